/**
 * What a CLI command declares: its synopsis, its options in titled groups (its own first, then
 * shared ones from options.ts), examples, and the function that runs it. main.ts parses exactly
 * these options (anything else is an error naming the option) and help.ts prints them.
 */
import type { Reporter } from '../util/log.js';
import type { Values } from './args.js';

export interface Option {
  type: 'string' | 'boolean';
  short?: string;
  /** Value name shown in help (`--out DIR`); string options only. */
  arg?: string;
  /** The default the recipe really uses, as shown in help (never applied by the parser). */
  default?: string;
  help: string;
}

export type OptionTable = Record<string, Option>;

export interface Command {
  name: string;
  /** One line for the global command list. */
  summary: string;
  /** Synopsis lines, each starting with `graft NAME`. */
  usage: string[];
  /** [title, options]: the command's own first, then shared groups ('data options', 'common options'…). */
  groups: [string, OptionTable][];
  examples: string[];
  run(positionals: string[], values: Values, reporter: Reporter): Promise<void>;
}

/** Every option a command takes, by name. */
export function optionsOf(cmd: Command): OptionTable {
  return Object.assign({}, ...cmd.groups.map(([, t]) => t));
}

/** Some options of a shared table (e.g. the model-file flags without --backbone). */
export function pick<K extends string>(table: OptionTable, ...names: K[]): OptionTable {
  return Object.fromEntries(names.map((n) => [n, table[n]]));
}

/** A table without some of its options (e.g. COMMON without --strict for commands that read no files). */
export function omit(table: OptionTable, ...names: string[]): OptionTable {
  return Object.fromEntries(Object.entries(table).filter(([n]) => !names.includes(n)));
}

/** The same options with other shown defaults (e.g. demo's --test-percent 20). */
export function withDefaults(table: OptionTable, defaults: Record<string, string>): OptionTable {
  return Object.fromEntries(Object.entries(table).map(([n, o]) => [n, n in defaults ? { ...o, default: defaults[n] } : o]));
}

/**
 * Declare a command. Checks what the parser and the help page rely on: each option declared once,
 * short flags unique, --json and --help present (every command takes them).
 */
export function defineCommand(cmd: Command): Command {
  const seen = new Set<string>();
  const shorts = new Set<string>();
  for (const [title, table] of cmd.groups) {
    for (const [name, o] of Object.entries(table)) {
      if (!o) throw new Error(`graft ${cmd.name}: option table "${title}" picks an option it does not have`);
      if (seen.has(name)) throw new Error(`graft ${cmd.name}: option --${name} is declared twice (group "${title}")`);
      seen.add(name);
      if (o.short !== undefined) {
        if (o.short.length !== 1 || shorts.has(o.short)) throw new Error(`graft ${cmd.name}: short option -${o.short} (--${name}) is not a unique single letter`);
        shorts.add(o.short);
      }
      if (o.type === 'boolean' && (o.arg !== undefined || o.default !== undefined)) throw new Error(`graft ${cmd.name}: boolean --${name} takes no value or default`);
    }
  }
  for (const required of ['json', 'help']) if (!seen.has(required)) throw new Error(`graft ${cmd.name}: every command takes --${required} (add the common options)`);
  return cmd;
}
