#!/usr/bin/env node
/**
 * The graft command line. Every command takes --json and then prints exactly one JSON object on
 * stdout; logs, warnings and progress go to stderr. Errors: one line, non-zero exit.
 *
 * Dispatch only: the commands are in ./commands/ (one file each, listed in ./commands/index.ts);
 * each is parsed with exactly the options it declares, so a misspelt or misplaced option is an
 * error naming it, with a suggestion.
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import { makeReporter } from '../util/log.js';
import type { Values } from './args.js';
import { GRAFT_VERSION } from '../version.js';
import { cleanupPendingDirs } from '../util/fs.js';
import { COMMANDS } from './commands/index.js';
import { commandHelp, globalHelp } from './help.js';
import { optionsOf, type Command } from './spec.js';
import { withRemote } from './remote.js';
import { interceptSignal } from '../util/signals.js';

/** A command-line mistake: its message is the whole error line (it names the command). */
class UsageError extends Error {}

/** Levenshtein distance (insert, delete, substitute; an adjacent swap counts 1). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The name in `names` closest to `name` when it is a likely typo of it (or a prefix either way). */
export function closest(name: string, names: readonly string[]): string | undefined {
  let best: { n: string; d: number } | undefined;
  for (const n of names) {
    const d = n.startsWith(name) || name.startsWith(n) ? Math.min(1, Math.abs(n.length - name.length)) : editDistance(name, n);
    if (!best || d < best.d) best = { n, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.n : undefined;
}

function findCommand(name: string): Command {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd) return cmd;
  const names = COMMANDS.map((c) => c.name);
  const near = closest(name, names);
  throw new UsageError(`graft: unknown command "${name}"${near ? ` (did you mean ${near}?)` : ''}; commands: ${names.join(', ')}; see graft help`);
}

/** `graft zoo: unknown option --unfreeze (graft finetune, lr-find, compare take --unfreeze); see graft zoo --help` */
function unknownOption(cmd: Command, raw: string, name: string): string {
  const hints: string[] = [];
  if (raw.startsWith('--')) {
    const near = closest(name, Object.keys(optionsOf(cmd)));
    if (near) hints.push(`did you mean --${near}?`);
    const others = COMMANDS.filter((c) => c !== cmd && Object.hasOwn(optionsOf(c), name)).map((c) => c.name);
    const names = others.length > 1 ? `${others.slice(0, -1).join(', ')} and ${others[others.length - 1]} take` : `${others[0]} takes`;
    if (others.length) hints.push(`graft ${names} --${name}`);
  }
  return `graft ${cmd.name}: unknown option ${raw}${hints.length ? ` (${hints.join(' ')})` : ''}; see graft ${cmd.name} --help`;
}

/**
 * Parse `args` with exactly `cmd`'s options. 'help' when --help/-h is among them (whatever else
 * is wrong); a mistake is a UsageError naming the option.
 */
function parse(cmd: Command, args: string[], flags: string[]): 'help' | { values: Values; positionals: string[] } {
  const table = optionsOf(cmd);
  const options = Object.fromEntries(Object.entries(table).map(([n, o]) => [n, o.short ? { type: o.type, short: o.short } : { type: o.type }]));
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const opts = tokens.filter((t) => t.kind === 'option');
  if (opts.some((t) => t.name === 'help') || flags.includes('--help') || flags.includes('-h')) return 'help';
  const see = `; see graft ${cmd.name} --help`;
  for (const t of opts) {
    const o = Object.hasOwn(table, t.name) ? table[t.name] : undefined;
    if (!o) throw new UsageError(unknownOption(cmd, t.rawName, t.name));
    const flag = `--${t.name}`;
    if (o.type === 'boolean' && t.inlineValue) throw new UsageError(`graft ${cmd.name}: ${flag} takes no value${see}`);
    if (o.type === 'string' && t.value === undefined) throw new UsageError(`graft ${cmd.name}: ${flag} needs a value (${o.arg ?? 'VALUE'})${see}`);
    if (o.type === 'string' && !t.inlineValue && t.value!.length > 1 && t.value!.startsWith('-')) {
      // `--out --json`: the value is missing; `--mean -0.5`: parseArgs wants it attached.
      const missing = /^--?[a-z]/i.test(t.value!);
      throw new UsageError(`graft ${cmd.name}: ${flag} needs a value (${o.arg ?? 'VALUE'})${missing ? '' : `; one starting with '-' is written ${flag}=${t.value}`}${see}`);
    }
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (e) {
    throw new UsageError(`graft ${cmd.name}: ${(e as Error).message.split('\n')[0]}${see}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    process.stdout.write(GRAFT_VERSION + '\n');
    return 0;
  }
  // --json is honoured even when the arguments do not parse (options end at a bare --).
  const end = argv.indexOf('--');
  let json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  try {
    if (!name || name === 'help' || name === '--help' || name === '-h') {
      const topic = name === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
      process.stdout.write(topic ? commandHelp(findCommand(topic)) : globalHelp(COMMANDS));
      return 0;
    }
    const cmd = findCommand(name);
    const parsed = parse(cmd, rest, end < 0 ? rest : argv.slice(1, end));
    if (parsed === 'help') {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    const { values: v, positionals } = parsed;
    json = !!v.json;
    const r = makeReporter({ json: !!v.json, quiet: !!v.quiet });
    await withRemote(v, r, () => cmd.run(positionals, v, r));
    return (process.exitCode as number | undefined) ?? 0;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    process.stderr.write(e instanceof UsageError ? `${msg}\n` : `graft: error: ${msg}\n`);
    if (process.env.GRAFT_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    if (json) process.stdout.write(JSON.stringify({ error: msg }) + '\n');
    return 1;
  }
}

function onSignal(sig: NodeJS.Signals): void {
  if (interceptSignal(sig)) return;
  cleanupPendingDirs();
  process.stderr.write(`\ngraft: interrupted (${sig}); nothing half-written was left behind\n`);
  process.exit(130);
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]).replace(/\.[jt]s$/, '') === fs.realpathSync(new URL(import.meta.url).pathname).replace(/\.[jt]s$/, '');
if (isMain || process.env.GRAFT_CLI_MAIN) {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // onnxruntime / wasm may keep handles; exit explicitly once output is flushed.
      process.stdout.write('', () => process.exit(code));
    },
    (e) => {
      process.stderr.write(`graft: error: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
