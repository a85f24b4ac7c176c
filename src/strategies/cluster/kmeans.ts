/**
 * k-means (Lloyd's algorithm) with greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the
 * greedy variant scikit-learn uses: 2 + ⌊ln k⌋ candidates per centre, the one lowering the
 * potential most wins) and several seeded restarts, keeping the lowest inertia. Rows are n×d
 * row-major float32; everything is deterministic for a given seed. Distances come from one matrix
 * product per step (‖x‖² + ‖c‖² − 2x·c, native SGEMM via gemmABt), the rest is plain loops.
 */
import { gemmABt } from '../../engine/kernels/gemm.js';
import { rng, type Rng } from '../../util/rng.js';

export interface KMeansOptions {
  k: number;
  /** Independent seeded runs; the lowest inertia wins (default 4). */
  restarts?: number;
  /** Lloyd iterations per run (default 100). */
  maxIter?: number;
  /** Stop when the squared centre shift is below tol × the mean per-feature variance (default 1e-4). */
  tol?: number;
  seed?: number;
}

export interface KMeansResult {
  /** Cluster of each row, 0..k-1. */
  labels: Int32Array;
  /** k×d centres. */
  centroids: Float32Array;
  /** Sum of squared distances of the rows to their centres. */
  inertia: number;
  iterations: number;
  /** Inertia of every restart, in order. */
  restartInertias: number[];
}

/** Squared norm of each of the n rows (or centres). */
export function rowNorms2(x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = i * d; t < (i + 1) * d; t++) s += x[t] * x[t];
    out[i] = s;
  }
  return out;
}

/** First index whose cumulative weight exceeds r (r in [0, total)). */
function drawIndex(w: Float64Array, r: number): number {
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i];
    if (acc > r) return i;
  }
  // Rounding left r at (or past) the total: the last row with weight.
  for (let i = w.length - 1; i >= 0; i--) if (w[i] > 0) return i;
  return w.length - 1;
}

/** Greedy k-means++ seeding: k row indices. `xn` = squared row norms. */
export function kmeansPlusPlus(x: Float32Array, n: number, d: number, k: number, rand: Rng, xn = rowNorms2(x, n, d)): number[] {
  /** Squared distances of every row to the rows `idx`: n×idx.length. */
  const distTo = (idx: number[]) => {
    const rows = new Float32Array(idx.length * d);
    idx.forEach((r, j) => rows.set(x.subarray(r * d, (r + 1) * d), j * d));
    const dot = gemmABt(x, rows, n, d, idx.length);
    const m = idx.length;
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) dot[i * m + j] = Math.max(0, xn[i] + xn[idx[j]] - 2 * dot[i * m + j]);
    return dot;
  };
  const centres = [Math.floor(rand() * n)];
  const closest = Float64Array.from(distTo(centres));
  closest[centres[0]] = 0;
  const trials = 2 + Math.floor(Math.log(k));
  for (let c = 1; c < k; c++) {
    let pot = 0;
    for (let i = 0; i < n; i++) pot += closest[i];
    // All rows coincide with chosen centres (pot 0): any row.
    const cand = Array.from({ length: trials }, () => (pot > 0 ? drawIndex(closest, rand() * pot) : Math.floor(rand() * n)));
    const dist = distTo(cand);
    let bestPot = Infinity;
    let best = 0;
    for (let t = 0; t < trials; t++) {
      let p = 0;
      for (let i = 0; i < n; i++) p += i === cand[t] ? 0 : Math.min(closest[i], dist[i * trials + t]);
      if (p < bestPot) {
        bestPot = p;
        best = t;
      }
    }
    centres.push(cand[best]);
    for (let i = 0; i < n; i++) closest[i] = i === cand[best] ? 0 : Math.min(closest[i], dist[i * trials + best]);
  }
  return centres;
}

/**
 * Assign every row to its nearest centre; returns the inertia and, per row, its squared distance
 * (for re-seeding empty clusters).
 */
function assign(x: Float32Array, xn: Float64Array, n: number, d: number, c: Float32Array, k: number, labels: Int32Array, rowDist: Float64Array): number {
  const cn = rowNorms2(c, k, d);
  const dot = gemmABt(x, c, n, d, k);
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let bj = 0;
    let bv = Infinity;
    for (let j = 0; j < k; j++) {
      const v = cn[j] - 2 * dot[i * k + j];
      if (v < bv) {
        bv = v;
        bj = j;
      }
    }
    labels[i] = bj;
    const dd = Math.max(0, xn[i] + bv);
    rowDist[i] = dd;
    inertia += dd;
  }
  return inertia;
}

/** Centres = means of their rows; an empty cluster takes the row farthest from its centre. Returns the squared shift. */
function update(x: Float32Array, n: number, d: number, c: Float32Array, k: number, labels: Int32Array, rowDist: Float64Array): number {
  const sums = new Float64Array(k * d);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const j = labels[i];
    counts[j]++;
    const o = i * d;
    const oc = j * d;
    for (let t = 0; t < d; t++) sums[oc + t] += x[o + t];
  }
  const taken = new Set<number>();
  for (let pass = 0; pass < k; pass++) {
    // Taking a row may empty another cluster: repeat until none is empty.
    const j = counts.indexOf(0);
    if (j < 0) break;
    let far = -1;
    for (let i = 0; i < n; i++) if (!taken.has(i) && (far < 0 || rowDist[i] > rowDist[far])) far = i;
    taken.add(far);
    rowDist[far] = 0;
    counts[labels[far]]--;
    for (let t = 0; t < d; t++) sums[labels[far] * d + t] -= x[far * d + t];
    labels[far] = j;
    counts[j] = 1;
    for (let t = 0; t < d; t++) sums[j * d + t] = x[far * d + t];
  }
  let shift = 0;
  for (let j = 0; j < k; j++) {
    for (let t = 0; t < d; t++) {
      const v = counts[j] ? sums[j * d + t] / counts[j] : c[j * d + t];
      const dv = v - c[j * d + t];
      shift += dv * dv;
      c[j * d + t] = v;
    }
  }
  return shift;
}

/** Mean per-feature variance (scales the convergence tolerance, as scikit-learn does). */
function meanVariance(x: Float32Array, n: number, d: number): number {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= n;
  let v = 0;
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) v += (x[i * d + t] - mean[t]) ** 2;
  return v / (n * d);
}

/** One seeded run: k-means++ then Lloyd iterations until the assignment or the centres settle. */
function lloyd(x: Float32Array, xn: Float64Array, n: number, d: number, k: number, rand: Rng, maxIter: number, tolAbs: number) {
  const c = new Float32Array(k * d);
  kmeansPlusPlus(x, n, d, k, rand, xn).forEach((r, j) => c.set(x.subarray(r * d, (r + 1) * d), j * d));
  const labels = new Int32Array(n).fill(-1);
  const prev = new Int32Array(n);
  const rowDist = new Float64Array(n);
  let inertia = Infinity;
  let it = 0;
  for (; it < maxIter; it++) {
    prev.set(labels);
    inertia = assign(x, xn, n, d, c, k, labels, rowDist);
    if (it > 0 && labels.every((l, i) => l === prev[i])) break;
    const shift = update(x, n, d, c, k, labels, rowDist);
    if (shift <= tolAbs) {
      inertia = assign(x, xn, n, d, c, k, labels, rowDist);
      it++;
      break;
    }
  }
  return { labels, centroids: c, inertia, iterations: it };
}

/** k-means with `restarts` seeded runs (run r uses its own stream from `seed`); the lowest inertia wins. */
export function kmeans(x: Float32Array, n: number, d: number, o: KMeansOptions): KMeansResult {
  const { k } = o;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`k-means: k must be an integer from 1 to ${n} (the number of rows), got ${k}`);
  const restarts = o.restarts ?? 4;
  const tolAbs = (o.tol ?? 1e-4) * meanVariance(x, n, d);
  const xn = rowNorms2(x, n, d);
  let best: ReturnType<typeof lloyd> | undefined;
  const restartInertias: number[] = [];
  for (let r = 0; r < restarts; r++) {
    const run = lloyd(x, xn, n, d, k, rng(((o.seed ?? 0) * 1000003 + r * 7919 + 1) >>> 0), o.maxIter ?? 100, tolAbs);
    restartInertias.push(run.inertia);
    if (!best || run.inertia < best.inertia) best = run;
  }
  return { ...best!, restartInertias };
}
