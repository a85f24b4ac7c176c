/**
 * Partition prepared rows into k clusters with k-means or Ward, and choose k by the silhouette
 * over a range (on a seeded sample of rows when there are many: the pairwise distances are
 * computed once and reused for every k). Cluster ids are canonical: 0 is the largest cluster.
 */
import { rng, shuffle } from '../../util/rng.js';
import type { Progress } from '../../util/log.js';
import { kmeans } from './kmeans.js';
import { pairwiseDistances, silhouetteFromDistances } from './metrics.js';
import { cutTree, wardLinkage, type Merge } from './ward.js';

export type ClusterMethod = 'kmeans' | 'ward';
export const CLUSTER_METHODS: readonly ClusterMethod[] = ['kmeans', 'ward'];

export interface PartitionOptions {
  method: ClusterMethod;
  /** k-means restarts (default 4). */
  restarts?: number;
  seed?: number;
}

/** Renumber clusters by decreasing size (ties: the cluster holding the lower row first); returns the sizes too. */
export function canonicalLabels(labels: Int32Array): { labels: Int32Array; sizes: number[] } {
  const count = new Map<number, { size: number; first: number }>();
  labels.forEach((l, i) => {
    const c = count.get(l);
    if (c) c.size++;
    else count.set(l, { size: 1, first: i });
  });
  const order = [...count.entries()].sort((a, b) => b[1].size - a[1].size || a[1].first - b[1].first);
  const id = new Map(order.map(([l], i) => [l, i]));
  return { labels: labels.map((l) => id.get(l)!), sizes: order.map(([, c]) => c.size) };
}

/** A partitioner for one set of rows: Ward builds its dendrogram once, then cuts it at each k. */
export function partitioner(x: Float32Array, n: number, d: number, o: PartitionOptions): (k: number) => { labels: Int32Array; inertia?: number } {
  if (o.method === 'ward') {
    let merges: Merge[] | undefined;
    return (k) => {
      merges ??= wardLinkage(x, n, d);
      return { labels: cutTree(merges, n, k) };
    };
  }
  return (k) => {
    const r = kmeans(x, n, d, { k, restarts: o.restarts, seed: o.seed });
    return { labels: r.labels, inertia: r.inertia };
  };
}

export interface KScore {
  k: number;
  silhouette: number;
  /** k-means only: the within-cluster sum of squares. */
  inertia?: number;
}

export interface SilhouetteSample {
  rows: Int32Array;
  dist: Float32Array;
}

/** A seeded sample of at most `size` rows (all rows, in order, when n ≤ size) and their pairwise distances. */
export function silhouetteSample(x: Float32Array, n: number, d: number, size: number, seed = 0): SilhouetteSample {
  let rows = Int32Array.from({ length: n }, (_, i) => i);
  if (n > size) {
    shuffle(rows, rng((seed ^ 0x5bd1e995) >>> 0));
    rows = rows.slice(0, size).sort();
  }
  return { rows, dist: pairwiseDistances(x, d, rows) };
}

/** Silhouette of a partition over the sample. */
export function sampleSilhouette(s: SilhouetteSample, labels: Int32Array): number {
  const sampled = Array.from(s.rows, (r) => labels[r]);
  if (new Set(sampled).size < 2) return -1; // the sample saw one cluster only: the worst score
  return silhouetteFromDistances(s.dist, s.rows.length, sampled);
}

/**
 * Try every k in [lo, hi] and keep the highest silhouette (ties: the smaller k). Returns the
 * scores and the chosen partition.
 */
export function chooseK(
  part: (k: number) => { labels: Int32Array; inertia?: number },
  sample: SilhouetteSample,
  range: [number, number],
  progress?: Progress,
): { k: number; labels: Int32Array; scores: KScore[] } {
  const scores: KScore[] = [];
  let best: { k: number; labels: Int32Array; s: number } | undefined;
  for (let k = range[0]; k <= range[1]; k++) {
    const r = part(k);
    const s = sampleSilhouette(sample, r.labels);
    scores.push({ k, silhouette: s, ...(r.inertia !== undefined ? { inertia: r.inertia } : {}) });
    if (!best || s > best.s) best = { k, labels: r.labels, s };
    progress?.tick();
  }
  progress?.done();
  return { k: best!.k, labels: best!.labels, scores };
}
