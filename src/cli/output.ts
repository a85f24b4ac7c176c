/** What commands print: one JSON object with --json, else readable text (both on stdout). */
import type { RunResult } from '../recipes/run.js';
import type { Evaluation } from '../eval/metrics.js';

export const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export function emit(json: boolean, obj: unknown, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(obj) + '\n');
  else process.stdout.write(human() + '\n');
}

export function skippedSummary(skipped: { file: string; reason: string }[]): string {
  if (!skipped.length) return '';
  const head = skipped.slice(0, 20).map((s) => `  ${s.file}: ${s.reason}`);
  if (skipped.length > 20) head.push(`  … and ${skipped.length - 20} more`);
  return `\nskipped ${skipped.length} file(s):\n${head.join('\n')}`;
}

/** Human-readable report of a training recipe's result. */
export function runReport(res: RunResult, headline: string, rows: string, formatEvaluation: (e: Evaluation) => string): string {
  return [
    `${headline}: ${res.data.train} train / ${res.data.val} val / ${res.data.test} test images`,
    `${rows}: ${res.features.computed} computed, ${res.features.cached} cached`,
    `val accuracy ${pct(res.val?.accuracy)}   test accuracy ${pct(res.test?.accuracy)}   time ${res.seconds.toFixed(1)} s`,
    res.test ? `\ntest set:\n${formatEvaluation(res.test)}` : '',
    `\nbundle: ${res.bundle}`,
    skippedSummary(res.data.skipped),
  ].join('\n');
}
