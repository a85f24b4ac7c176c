/**
 * A 2-D UMAP picture of rows (McInnes et al. 2018, through the `umap-js` implementation by Google
 * PAIR): rows reduced to at most 50 PCA components first (as the UMAP authors advise for wide
 * features), then UMAP with a seeded random source, so the same rows give the same picture.
 */
import { UMAP } from 'umap-js';
import { rng } from '../../util/rng.js';
import { fitPca, transformPca } from './pca.js';

/** Fewest rows UMAP is drawn for (it needs neighbours; below this a picture says nothing). */
export const UMAP_MIN_ROWS = 20;

export function umap2d(x: Float32Array, n: number, dim: number, seed = 0): { xs: Float32Array; ys: Float32Array } {
  if (n < UMAP_MIN_ROWS) throw new Error(`UMAP: needs at least ${UMAP_MIN_ROWS} rows, got ${n}`);
  const k = Math.min(50, dim, n - 1);
  const z = k < dim ? transformPca(fitPca(x, n, dim, k, { seed }), x, n) : x;
  const rows = Array.from({ length: n }, (_, i) => Array.from(z.subarray(i * k, (i + 1) * k)));
  const e = new UMAP({ nComponents: 2, nNeighbors: Math.min(15, n - 1), minDist: 0.1, random: rng((seed * 7919 + 1) >>> 0) }).fit(rows);
  return { xs: Float32Array.from(e, (p) => p[0]!), ys: Float32Array.from(e, (p) => p[1]!) };
}
