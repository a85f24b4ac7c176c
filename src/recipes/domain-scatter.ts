/** Pictures of two domains' rows (PCA, and UMAP when there are enough rows), shared by the `adapt` and `disentangle` reports. */
import { fitPca, transformPca } from '../strategies/cluster/pca.js';
import { umap2d, UMAP_MIN_ROWS } from '../strategies/cluster/umap.js';
import type { AdaptScatter } from '../report/adapt.js';
import { rng, shuffle } from '../util/rng.js';

/** Up to `max` row indices of n, seeded, ascending. */
export function sampleRows(n: number, max: number, seed: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  if (n <= max) return idx;
  shuffle(idx, rng(seed));
  return idx.slice(0, max).sort();
}

export function gather(x: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/** The PCA picture of source and target rows together, and their UMAP picture when there are enough rows. */
export function scatterOf(title: string, s: { x: Float32Array; dim: number }, t: { x: Float32Array; dim: number }, ns: number, nt: number, cls: Int32Array, seed: number): AdaptScatter[] {
  const n = ns + nt;
  const x = new Float32Array(n * s.dim);
  x.set(s.x.subarray(0, ns * s.dim));
  x.set(t.x.subarray(0, nt * t.dim), ns * s.dim);
  const domain = Int32Array.from({ length: n }, (_, i) => (i < ns ? 0 : 1));
  const out = [pcaScatter(title, x, n, s.dim, domain, cls, seed)];
  if (n >= UMAP_MIN_ROWS) out.push({ title, ...umap2d(x, n, s.dim, seed), domain, cls, embedding: 'UMAP' });
  return out;
}

function pcaScatter(title: string, x: Float32Array, n: number, dim: number, domain: Int32Array, cls: Int32Array, seed: number): AdaptScatter {
  const p = fitPca(x, n, dim, 2, { seed });
  const z = transformPca(p, x, n);
  return {
    title,
    xs: Float32Array.from({ length: n }, (_, i) => z[2 * i]),
    ys: Float32Array.from({ length: n }, (_, i) => z[2 * i + 1]),
    domain,
    cls,
    embedding: 'PCA',
    explained: [p.variances[0] / p.totalVariance, p.variances[1] / p.totalVariance],
  };
}

