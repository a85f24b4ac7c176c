/**
 * N-way K-shot episodes, as the few-shot literature evaluates (Vinyals et al. 2016; Chen et al.
 * 2019 "A Closer Look at Few-shot Classification"): draw N classes, then K support and Q query
 * images of each, disjoint; relabel the classes 0..N−1; score accuracy on the queries; report the
 * mean over episodes ± the 95% confidence interval 1.96·s/√E (s: standard deviation of episode
 * accuracies, E: episodes).
 */
import { rng, shuffle } from '../../util/rng.js';

export interface Episode {
  /** Dataset class of each of the N ways. */
  classes: number[];
  /** Row indices of the support images, way-major (K per way), and their way labels. */
  support: number[];
  supportY: Int32Array;
  query: number[];
  queryY: Int32Array;
}

export interface EpisodeSpec {
  ways: number;
  shots: number;
  queries: number;
  episodes: number;
  seed: number;
}

/** Row indices of each class, in row order. */
export function rowsByClass(y: ArrayLike<number>, k: number): number[][] {
  const by = Array.from({ length: k }, () => [] as number[]);
  for (let i = 0; i < y.length; i++) by[y[i]].push(i);
  return by;
}

/** Classes with at least `need` images; an error naming the shortfall when fewer than `ways` remain. */
export function eligibleClasses(byClass: number[][], labels: string[], ways: number, need: number): number[] {
  const ok = byClass.map((r, c) => (r.length >= need ? c : -1)).filter((c) => c >= 0);
  if (ok.length < ways) {
    const short = byClass.map((r, c) => [labels[c], r.length] as const).filter(([, n]) => n < need);
    throw new Error(
      `${ways}-way episodes need ${ways} classes with ≥ ${need} images each (shots + queries); only ${ok.length} have that` +
        (short.length ? ` (${short.slice(0, 5).map(([l, n]) => `"${l}" has ${n}`).join(', ')}${short.length > 5 ? ', …' : ''})` : ''),
    );
  }
  return ok;
}

/**
 * `spec.episodes` seeded episodes over the eligible classes: same seed → same episodes. Each
 * episode's support and query rows are drawn without replacement from one shuffle of each class,
 * so no image is both a support and a query image.
 */
export function sampleEpisodes(byClass: number[][], eligible: number[], spec: EpisodeSpec): Episode[] {
  const { ways, shots, queries } = spec;
  const r = rng(spec.seed);
  const out: Episode[] = [];
  for (let e = 0; e < spec.episodes; e++) {
    const pool = [...eligible];
    shuffle(pool, r);
    const classes = pool.slice(0, ways);
    const support: number[] = [];
    const query: number[] = [];
    const supportY = new Int32Array(ways * shots);
    const queryY = new Int32Array(ways * queries);
    classes.forEach((c, w) => {
      const rows = [...byClass[c]];
      // Partial Fisher–Yates: the first shots+queries entries are a uniform draw without replacement.
      for (let i = 0; i < shots + queries; i++) {
        const j = i + Math.floor(r() * (rows.length - i));
        [rows[i], rows[j]] = [rows[j], rows[i]];
      }
      support.push(...rows.slice(0, shots));
      query.push(...rows.slice(shots, shots + queries));
      supportY.fill(w, w * shots, (w + 1) * shots);
      queryY.fill(w, w * queries, (w + 1) * queries);
    });
    out.push({ classes, support, supportY, query, queryY });
  }
  return out;
}

/** Mean and 95% confidence half-width 1.96·s/√n (s with n−1 degrees of freedom; 0 for one value). */
export function meanCi95(values: number[]): { mean: number; ci95: number; std: number } {
  const n = values.length;
  if (n === 0) throw new Error('meanCi95: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, ci95: (1.96 * std) / Math.sqrt(n), std };
}

/** Rows `idx` of an n×dim matrix, copied into a new matrix. */
export function gatherRows(x: Float32Array, dim: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * dim);
  idx.forEach((i, r) => out.set(x.subarray(i * dim, (i + 1) * dim), r * dim));
  return out;
}
