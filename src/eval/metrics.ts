/** Classification metrics from probabilities/logits and true labels. */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Evaluation {
  n: number;
  accuracy: number;
  /** Top-k accuracy for k = 1..min(5, classes). */
  topK: Record<string, number>;
  labels: string[];
  perClass: Record<string, ClassMetrics>;
  macroF1: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Off-diagonal pairs with the most errors, largest first. */
  mostConfused: { actual: string; predicted: string; count: number }[];
}

/** Evaluate row-major n×k scores (probabilities or logits) against labels. */
export function evaluateScores(scores: Float32Array, y: ArrayLike<number>, labels: string[]): Evaluation {
  const k = labels.length;
  const n = y.length;
  if (scores.length !== n * k) throw new Error(`scores hold ${scores.length} values, expected ${n}×${k}`);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const maxK = Math.min(5, k);
  const topHits = new Array<number>(maxK + 1).fill(0);
  for (let i = 0; i < n; i++) {
    const row = scores.subarray(i * k, (i + 1) * k);
    let pred = 0;
    for (let j = 1; j < k; j++) if (row[j] > row[pred]) pred = j;
    confusion[y[i]][pred]++;
    // Rank of the true class = number of classes scored strictly higher.
    let rank = 0;
    for (let j = 0; j < k; j++) if (row[j] > row[y[i]]) rank++;
    for (let t = rank + 1; t <= maxK; t++) topHits[t]++;
  }
  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  let correct = 0;
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    correct += tp;
    let predC = 0;
    let support = 0;
    for (let j = 0; j < k; j++) {
      predC += confusion[j][c];
      support += confusion[c][j];
    }
    const precision = predC ? tp / predC : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[labels[c]] = { precision, recall, f1, support };
    f1Sum += f1;
  }
  const pairs: Evaluation['mostConfused'] = [];
  for (let a = 0; a < k; a++) for (let p = 0; p < k; p++) if (a !== p && confusion[a][p] > 0) pairs.push({ actual: labels[a], predicted: labels[p], count: confusion[a][p] });
  pairs.sort((u, v) => v.count - u.count);
  const topK: Record<string, number> = {};
  for (let t = 1; t <= maxK; t++) topK[`top${t}`] = n ? topHits[t] / n : 0;
  return { n, accuracy: n ? correct / n : 0, topK, labels, perClass, macroF1: k ? f1Sum / k : 0, confusion, mostConfused: pairs.slice(0, 10) };
}

/** Plain-text report: accuracy, per-class table, confusion matrix, most-confused pairs. */
export function formatEvaluation(e: Evaluation): string {
  const lines: string[] = [];
  const pct = (v: number) => (100 * v).toFixed(2) + '%';
  lines.push(`accuracy ${pct(e.accuracy)} on ${e.n} images` + (e.topK.top5 !== undefined ? `, top-5 ${pct(e.topK.top5)}` : ''));
  const w = Math.max(5, ...e.labels.map((l) => l.length));
  lines.push(`${'class'.padEnd(w)}  precision  recall     f1  support`);
  for (const l of e.labels) {
    const m = e.perClass[l];
    lines.push(`${l.padEnd(w)}  ${m.precision.toFixed(3).padStart(9)}  ${m.recall.toFixed(3).padStart(6)}  ${m.f1.toFixed(3).padStart(5)}  ${String(m.support).padStart(7)}`);
  }
  lines.push('confusion (rows: actual, columns: predicted)');
  const cw = Math.max(4, ...e.confusion.flat().map((v) => String(v).length + 1));
  lines.push(' '.repeat(w) + e.labels.map((_, j) => String(j).padStart(cw)).join(''));
  e.confusion.forEach((row, i) => lines.push(`${e.labels[i].padEnd(w)}` + row.map((v) => String(v).padStart(cw)).join('') + `   (${i})`));
  if (e.mostConfused.length) {
    lines.push('most confused:');
    for (const p of e.mostConfused.slice(0, 5)) lines.push(`  ${p.actual} → ${p.predicted}: ${p.count}`);
  }
  return lines.join('\n');
}
