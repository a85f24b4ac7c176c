/**
 * Help pages: the global one (`graft`, `graft help`, `graft --help`) lists every command with its
 * summary; a command's own (`graft train --help`, `graft help train`) shows its usage, each option
 * group with value names and defaults, and examples. Lines are wrapped at WIDTH characters.
 */
import { GRAFT_VERSION } from '../version.js';
import type { Command, Option } from './spec.js';

export const WIDTH = 110;
/** Option column: wider left parts put their help on the next line. */
const MAX_LEFT = 32;

/** Words of `text` in lines of at most `width`: the first starts with `first`, the rest with `rest`. */
export function wrap(text: string, first: string, rest: string, width = WIDTH): string[] {
  if (first.length + text.length <= width) return [first + text]; // as written (aligned comments)
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/ +/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

function optionLeft(name: string, o: Option): string {
  const short = o.short ? `-${o.short}, ` : '    ';
  return `  ${short}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
}

function optionText(o: Option): string {
  return o.default !== undefined ? `${o.help} (default: ${o.default})` : o.help;
}

/** `graft`, `graft help`, `graft --help`. */
export function globalHelp(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length)) + 2;
  const lines = [
    `graft ${GRAFT_VERSION} — transfer learning for images (pretrained CNN features + a trained head)`,
    '',
    'usage: graft COMMAND [ARGS] [options]',
    '',
    'commands:',
    ...commands.flatMap((c) => wrap(c.summary, `  ${c.name.padEnd(w)}`, ' '.repeat(w + 2))),
    '',
    'graft COMMAND --help for its options (or graft help COMMAND); graft --version prints the version.',
    'Every command takes --json: then stdout holds exactly one JSON object (errors: {"error": …}, exit 1).',
  ];
  return lines.join('\n') + '\n';
}

/** `graft NAME --help`, `graft help NAME`. */
export function commandHelp(cmd: Command): string {
  const lefts = cmd.groups.flatMap(([, t]) => Object.entries(t).map(([n, o]) => optionLeft(n, o).length));
  const col = Math.min(MAX_LEFT, Math.max(...lefts) + 2);
  const lines = [...wrap(cmd.summary, `graft ${cmd.name}: `, '  '), '', 'usage:', ...cmd.usage.flatMap((u) => wrap(u, '  ', '      '))];
  for (const [title, table] of cmd.groups) {
    lines.push('', `${title}:`);
    for (const [name, o] of Object.entries(table)) {
      const left = optionLeft(name, o);
      if (left.length + 2 <= col) lines.push(...wrap(optionText(o), left.padEnd(col), ' '.repeat(col)));
      else lines.push(left, ...wrap(optionText(o), ' '.repeat(col), ' '.repeat(col)));
    }
  }
  if (cmd.examples.length) lines.push('', 'examples:', ...cmd.examples.flatMap((e) => wrap(e, '  ', '      ')));
  return lines.join('\n') + '\n';
}
