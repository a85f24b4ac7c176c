/**
 * Class-balanced pseudo-labels for self-training (Zou et al. 2018, CBST): instead of one global
 * confidence threshold — under which the easiest class swallows the target — each class gets its
 * own threshold, the confidence of its `portion`-quantile among the rows predicted as that class.
 * Every class that is predicted at all keeps its most confident `portion` of rows (at least one),
 * so the pseudo-labelled set keeps the target's class balance as the model sees it.
 */

export interface PseudoLabels {
  /** Target row indices kept, ascending. */
  idx: Int32Array;
  /** Their pseudo-labels. */
  labels: Int32Array;
  /** Per class: the confidence threshold used (NaN when no row was predicted as the class). */
  thresholds: number[];
  /** Per class: rows kept. */
  counts: number[];
}

/** Argmax and its probability of each row of an n×k probability matrix. */
export function argmaxRows(probs: Float32Array, n: number, k: number): { label: Int32Array; confidence: Float32Array } {
  const label = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    label[i] = best;
    confidence[i] = probs[i * k + best];
  }
  return { label, confidence };
}

/** CBST selection of the most confident `portion` ∈ (0, 1] of each predicted class. */
export function classBalancedPseudoLabels(probs: Float32Array, n: number, k: number, portion: number): PseudoLabels {
  if (!(portion > 0 && portion <= 1)) throw new Error(`pseudo-label portion must be in (0, 1], got ${portion}`);
  const { label, confidence } = argmaxRows(probs, n, k);
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) byClass[label[i]].push(i);
  const keep = new Uint8Array(n);
  const thresholds: number[] = [];
  const counts: number[] = [];
  for (let c = 0; c < k; c++) {
    const rows = byClass[c].sort((a, b) => confidence[b] - confidence[a] || a - b);
    if (!rows.length) {
      thresholds.push(NaN);
      counts.push(0);
      continue;
    }
    const m = Math.max(1, Math.round(portion * rows.length));
    const th = confidence[rows[m - 1]];
    thresholds.push(th);
    for (let j = 0; j < m; j++) keep[rows[j]] = 1;
    counts.push(m);
  }
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) idx.push(i);
  return { idx: Int32Array.from(idx), labels: Int32Array.from(idx, (i) => label[i]), thresholds, counts };
}

/** Share of rows on which two pseudo-label sets agree (kept with the same label, or both left out). */
export function pseudoAgreement(a: PseudoLabels, b: PseudoLabels, n: number): number {
  const la = new Int32Array(n).fill(-1);
  const lb = new Int32Array(n).fill(-1);
  a.idx.forEach((i, j) => (la[i] = a.labels[j]));
  b.idx.forEach((i, j) => (lb[i] = b.labels[j]));
  let same = 0;
  for (let i = 0; i < n; i++) if (la[i] === lb[i]) same++;
  return same / Math.max(1, n);
}
