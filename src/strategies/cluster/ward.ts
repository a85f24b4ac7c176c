/**
 * Agglomerative clustering with Ward's criterion: the nearest-neighbour-chain algorithm (Müllner
 * 2011) over a condensed matrix of squared distances, updated by the Lance–Williams formula.
 * O(n²) time and n(n−1)/2 float32 of memory, so it is limited to MAX_WARD_ROWS rows. One
 * dendrogram gives every k: `cutTree` keeps the clusters left after the n−k lowest merges.
 */
import { gemmABt } from '../../engine/kernels/gemm.js';
import { rowNorms2 } from './kmeans.js';

/** 12,000 rows hold 72 M float32 distances (288 MB); beyond that, use k-means. */
export const MAX_WARD_ROWS = 12_000;

export interface Merge {
  /** Slots merged (each the index of a row in the cluster); the new cluster keeps slot `b`. */
  a: number;
  b: number;
  /** Ward distance: √(2·increase of the within-cluster sum of squares), as in SciPy. */
  height: number;
}

/** Index of the pair i < j in a condensed n×n matrix. */
const cidx = (n: number, i: number, j: number) => (i < j ? n * i - (i * (i + 1)) / 2 + j - i - 1 : n * j - (j * (j + 1)) / 2 + i - j - 1);

/** The n−1 merges of Ward's hierarchical clustering of n×d rows, lowest first. */
export function wardLinkage(x: Float32Array, n: number, d: number): Merge[] {
  if (n > MAX_WARD_ROWS) throw new Error(`--method ward keeps n²/2 distances in memory and takes at most ${MAX_WARD_ROWS} images (got ${n}); use --method kmeans`);
  const D = new Float32Array((n * (n - 1)) / 2);
  const norms = rowNorms2(x, n, d);
  const BLOCK = 512;
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    // Rows i0… against every later row: one Gram product per block.
    const m = Math.min(BLOCK, n - i0);
    const g = gemmABt(x.subarray(i0 * d, (i0 + m) * d), x.subarray(i0 * d), m, d, n - i0);
    for (let r = 0; r < m; r++) {
      const i = i0 + r;
      const base = cidx(n, i, i + 1) - (i + 1);
      for (let j = i + 1; j < n; j++) D[base + j] = Math.max(0, norms[i] + norms[j] - 2 * g[r * (n - i0) + (j - i0)]);
    }
  }
  const size = new Float64Array(n).fill(1);
  const active = new Uint8Array(n).fill(1);
  const merges: Merge[] = [];
  const chain: number[] = [];
  let firstActive = 0;
  while (merges.length < n - 1) {
    if (chain.length === 0) {
      while (!active[firstActive]) firstActive++;
      chain.push(firstActive);
    }
    let a = chain[chain.length - 1];
    let b = -1;
    for (;;) {
      a = chain[chain.length - 1];
      const prev = chain.length > 1 ? chain[chain.length - 2] : -1;
      // Nearest active neighbour of a; the previous chain element wins ties (keeps the chain finite).
      let best = prev >= 0 ? D[cidx(n, a, prev)] : Infinity;
      b = prev;
      for (let c = 0; c < n; c++) {
        if (!active[c] || c === a) continue;
        const v = D[cidx(n, a, c)];
        if (v < best) {
          best = v;
          b = c;
        }
      }
      if (b === prev) break;
      chain.push(b);
    }
    chain.pop();
    chain.pop();
    const dab = D[cidx(n, a, b)];
    const [na, nb] = [size[a], size[b]];
    for (let c = 0; c < n; c++) {
      if (!active[c] || c === a || c === b) continue;
      const nc = size[c];
      const v = ((na + nc) * D[cidx(n, a, c)] + (nb + nc) * D[cidx(n, b, c)] - nc * dab) / (na + nb + nc);
      D[cidx(n, b, c)] = v;
    }
    active[a] = 0;
    size[b] = na + nb;
    merges.push({ a, b, height: Math.sqrt(Math.max(0, dab)) });
  }
  // Ward is reducible, so sorting by height (stable) gives a valid dendrogram order.
  return merges.map((m, i) => ({ m, i })).sort((p, q) => p.m.height - q.m.height || p.i - q.i).map((p) => p.m);
}

/** Flat clusters after applying the lowest n−k merges: labels 0..k-1 (in order of first row). */
export function cutTree(merges: Merge[], n: number, k: number): Int32Array {
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`ward: k must be an integer from 1 to ${n}, got ${k}`);
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (let m = 0; m < n - k; m++) parent[find(merges[m].a)] = find(merges[m].b);
  const ids = new Map<number, number>();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = find(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    labels[i] = ids.get(r)!;
  }
  return labels;
}
