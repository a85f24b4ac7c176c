/**
 * External cluster scores against known labels — NMI (arithmetic normalisation, as
 * scikit-learn's default), the adjusted Rand index (Hubert & Arabie 1985) and Hungarian-matched
 * accuracy — and the silhouette coefficient (Rousseeuw 1987), an internal score used to pick k.
 */
import { gemmABt } from '../../engine/kernels/gemm.js';
import { maxAssignment } from './hungarian.js';
import { rowNorms2 } from './kmeans.js';

/** Contingency table: rows = true classes, columns = clusters (indices must be 0-based). */
export function contingency(truth: ArrayLike<number>, pred: ArrayLike<number>): number[][] {
  if (truth.length !== pred.length) throw new Error(`cluster scores: ${truth.length} labels but ${pred.length} assignments`);
  let kt = 0;
  let kp = 0;
  for (let i = 0; i < truth.length; i++) {
    kt = Math.max(kt, truth[i] + 1);
    kp = Math.max(kp, pred[i] + 1);
  }
  const t = Array.from({ length: kt }, () => new Array<number>(kp).fill(0));
  for (let i = 0; i < truth.length; i++) t[truth[i]][pred[i]]++;
  return t;
}

const entropy = (counts: number[], n: number) => counts.reduce((h, c) => (c > 0 ? h - (c / n) * Math.log(c / n) : h), 0);

/** Normalised mutual information, MI / mean(H(truth), H(pred)); 1 when both are one cluster. */
export function nmi(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const t = contingency(truth, pred);
  const n = truth.length;
  const rows = t.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = t[0].map((_, j) => t.reduce((a, r) => a + r[j], 0));
  const ht = entropy(rows, n);
  const hp = entropy(cols, n);
  if (ht === 0 && hp === 0) return 1;
  let mi = 0;
  t.forEach((r, i) => r.forEach((c, j) => c > 0 && (mi += (c / n) * Math.log((n * c) / (rows[i] * cols[j])))));
  const denom = (ht + hp) / 2;
  return denom > 0 ? Math.max(0, mi / denom) : 0;
}

const pairs = (c: number) => (c * (c - 1)) / 2;

/** Adjusted Rand index: 1 for identical partitions (up to renaming), ≈0 for chance. */
export function ari(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const t = contingency(truth, pred);
  const n = truth.length;
  const sumCells = t.reduce((s, r) => s + r.reduce((a, c) => a + pairs(c), 0), 0);
  const sumRows = t.reduce((s, r) => s + pairs(r.reduce((a, b) => a + b, 0)), 0);
  const sumCols = t[0].reduce((s, _, j) => s + pairs(t.reduce((a, r) => a + r[j], 0)), 0);
  const expected = (sumRows * sumCols) / pairs(n);
  const max = (sumRows + sumCols) / 2;
  if (max === expected) return 1; // both partitions trivial (one cluster, or all singletons)
  return (sumCells - expected) / (max - expected);
}

/**
 * Accuracy after matching clusters to classes one-to-one (Hungarian algorithm on the contingency
 * table); clusters left without a class (k > classes) count as wrong. `mapping[c]` = class of cluster c, or -1.
 */
export function matchedAccuracy(truth: ArrayLike<number>, pred: ArrayLike<number>): { accuracy: number; mapping: number[] } {
  const t = contingency(truth, pred);
  const mapping = new Array<number>(t[0].length).fill(-1);
  let hit = 0;
  for (const [cls, cl] of maxAssignment(t)) {
    mapping[cl] = cls;
    hit += t[cls][cl];
  }
  return { accuracy: hit / truth.length, mapping };
}

/**
 * Mean silhouette of points given their pairwise distances (s×s, row-major): for each point,
 * a = mean distance to its own cluster, b = smallest mean distance to another cluster,
 * s = (b − a) / max(a, b), and 0 for a point alone in its cluster. Needs ≥ 2 clusters present.
 */
export function silhouetteFromDistances(dist: Float32Array | Float64Array, s: number, labels: ArrayLike<number>): number {
  let k = 0;
  for (let i = 0; i < s; i++) k = Math.max(k, labels[i] + 1);
  const size = new Int32Array(k);
  for (let i = 0; i < s; i++) size[labels[i]]++;
  if (size.filter((c) => c > 0).length < 2) throw new Error('silhouette: needs at least 2 clusters');
  const sums = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < s; i++) {
    sums.fill(0);
    const o = i * s;
    for (let j = 0; j < s; j++) sums[labels[j]] += dist[o + j];
    const own = labels[i];
    if (size[own] === 1) continue; // s(i) = 0
    const a = sums[own] / (size[own] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && size[c] > 0) b = Math.min(b, sums[c] / size[c]);
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / s;
}

/** Euclidean distances between the given rows of x (n×d), s×s row-major (one Gram product). */
export function pairwiseDistances(x: Float32Array, d: number, rows: ArrayLike<number>): Float32Array {
  const s = rows.length;
  const g = new Float32Array(s * d);
  for (let a = 0; a < s; a++) g.set(x.subarray(rows[a] * d, (rows[a] + 1) * d), a * d);
  const norms = rowNorms2(g, s, d);
  const out = gemmABt(g, g, s, d, s);
  for (let a = 0; a < s; a++) {
    out[a * s + a] = 0;
    for (let b = a + 1; b < s; b++) {
      const v = Math.sqrt(Math.max(0, norms[a] + norms[b] - 2 * out[a * s + b]));
      out[a * s + b] = v;
      out[b * s + a] = v;
    }
  }
  return out;
}
