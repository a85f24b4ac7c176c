/**
 * Zero-shot scoring as Xian et al. 2017 ("Zero-shot learning — the good, the bad and the ugly")
 * define it: per-class mean accuracy (the mean over classes of each class's accuracy), on unseen
 * classes for ZSL; for generalised ZSL the accuracy on seen (S) and unseen (U) test images when
 * every class is a candidate, and H = 2SU/(S+U). Calibrated stacking (Chao et al. 2016) subtracts
 * a constant γ from every seen class's score before the argmax, trading S for U.
 */

/** Argmax of each row of n×k scores over the allowed columns (all when omitted), minus `shift[c]`. */
export function argmaxScores(scores: ArrayLike<number>, n: number, k: number, opts: { allowed?: number[]; shift?: ArrayLike<number> } = {}): Int32Array {
  const cols = opts.allowed ?? Array.from({ length: k }, (_, c) => c);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = cols[0];
    let bv = -Infinity;
    for (const c of cols) {
      const v = scores[i * k + c] - (opts.shift ? opts.shift[c] : 0);
      if (v > bv) (bv = v), (best = c);
    }
    out[i] = best;
  }
  return out;
}

/** Mean over the classes present in `y` of the fraction of their rows predicted right. */
export function perClassMeanAccuracy(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  const hit = new Map<number, [number, number]>();
  for (let i = 0; i < y.length; i++) {
    const h = hit.get(y[i]) ?? [0, 0];
    h[0] += pred[i] === y[i] ? 1 : 0;
    h[1]++;
    hit.set(y[i], h);
  }
  if (hit.size === 0) return 0;
  let s = 0;
  for (const [c, t] of hit.values()) s += c / t;
  return s / hit.size;
}

export const harmonicMean = (s: number, u: number): number => (s + u > 0 ? (2 * s * u) / (s + u) : 0);

/** One generalised-ZSL evaluation set: scores over k classes, which classes are seen, rows of each kind. */
export interface GzslSet {
  scores: Float32Array | Float64Array;
  k: number;
  seen: boolean[];
  seenRows: { idx: number[]; y: number[] };
  unseenRows: { idx: number[]; y: number[] };
}

function rowsOf(s: GzslSet, rows: { idx: number[] }): Float64Array {
  const out = new Float64Array(rows.idx.length * s.k);
  rows.idx.forEach((i, r) => {
    for (let c = 0; c < s.k; c++) out[r * s.k + c] = s.scores[i * s.k + c];
  });
  return out;
}

/** S, U and H of one set at calibration γ. */
export function gzslAt(set: GzslSet, gamma: number): { s: number; u: number; h: number } {
  const shift = set.seen.map((v) => (v ? gamma : 0));
  const acc = (rows: { idx: number[]; y: number[] }) => perClassMeanAccuracy(argmaxScores(rowsOf(set, rows), rows.idx.length, set.k, { shift }), rows.y);
  const s = acc(set.seenRows);
  const u = acc(set.unseenRows);
  return { s, u, h: harmonicMean(s, u) };
}

/**
 * Calibrated stacking: the γ maximising the mean H over `sets`, among candidates at the quantiles
 * of the gap (best seen score − best unseen score) of every row, and 0.
 */
export function calibrateStacking(sets: GzslSet[], candidates = 101): { gamma: number; s: number; u: number; h: number; curve: { gamma: number; s: number; u: number; h: number }[] } {
  const gaps: number[] = [];
  for (const set of sets) {
    for (const i of [...set.seenRows.idx, ...set.unseenRows.idx]) {
      let bs = -Infinity;
      let bu = -Infinity;
      for (let c = 0; c < set.k; c++) {
        const v = set.scores[i * set.k + c];
        if (set.seen[c]) bs = Math.max(bs, v);
        else bu = Math.max(bu, v);
      }
      if (Number.isFinite(bs) && Number.isFinite(bu)) gaps.push(bs - bu);
    }
  }
  gaps.sort((a, b) => a - b);
  const grid = new Set<number>([0]);
  for (let q = 0; q < candidates && gaps.length; q++) grid.add(gaps[Math.min(gaps.length - 1, Math.floor((q / (candidates - 1)) * (gaps.length - 1)))]);
  const curve = [...grid]
    .sort((a, b) => a - b)
    .map((gamma) => {
      const r = sets.map((st) => gzslAt(st, gamma));
      const mean = (k: 's' | 'u' | 'h') => r.reduce((a, x) => a + x[k], 0) / r.length;
      return { gamma, s: mean('s'), u: mean('u'), h: mean('h') };
    });
  const best = curve.reduce((a, b) => (b.h > a.h ? b : a));
  return { ...best, curve };
}
