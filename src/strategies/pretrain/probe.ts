/**
 * The few-label linear probe that measures a representation (how SimCLR and most self-supervised
 * work is judged): for `shots` labelled images per class, drawn `draws` times with fixed seeds,
 * fit a logistic regression on those rows alone (the few-shot `logreg` method: centred,
 * L2-normalised rows, L-BFGS) and score it on the query rows. Two representations probed with the
 * same seed see exactly the same draws, so "before vs after" differences are paired.
 */
import { logregPredict } from '../fewshot/methods.js';
import type { Examples } from '../../train/source.js';
import { rng, shuffle } from '../../util/rng.js';

export interface ProbeResult {
  shots: number;
  draws: number;
  /** Mean query accuracy over the draws, its standard deviation, and each draw's. */
  accuracy: number;
  std: number;
  perDraw: number[];
  /** Query rows per draw. */
  queries: number;
}

/** `shots` row indices per class (classes 0..k−1, every class must have them), seeded. */
export function drawSupport(y: Int32Array, k: number, shots: number, seed: number): Int32Array {
  const byClass: number[][] = Array.from({ length: k }, () => []);
  y.forEach((c, i) => (c >= 0 && c < k ? byClass[c]!.push(i) : undefined));
  const out: number[] = [];
  const rand = rng(seed >>> 0);
  byClass.forEach((rows, c) => {
    if (rows.length < shots) throw new Error(`probe: class ${c} has ${rows.length} labelled row(s), fewer than ${shots} shots`);
    const r = Int32Array.from(rows);
    shuffle(r, rand);
    out.push(...r.subarray(0, shots));
  });
  return Int32Array.from(out);
}

function gather(e: Examples, idx: ArrayLike<number>): Examples {
  const x = new Float32Array(idx.length * e.dim);
  const y = new Int32Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    const r = idx[j]!;
    x.set(e.x.subarray(r * e.dim, (r + 1) * e.dim), j * e.dim);
    y[j] = e.y[r]!;
  }
  return { x, y, n: idx.length, dim: e.dim };
}

/**
 * Probe `pool` (labelled rows the support is drawn from) with `shots` per class; the query is
 * `test` when given, else the pool rows not drawn (a transductive probe: say so where it is shown).
 */
export async function fewLabelProbe(pool: Examples, test: Examples | null, k: number, shots: number, o: { draws?: number; seed?: number; maxQueries?: number } = {}): Promise<ProbeResult> {
  const draws = o.draws ?? 5;
  const perDraw: number[] = [];
  let queries = 0;
  for (let d = 0; d < draws; d++) {
    const support = drawSupport(pool.y, k, shots, (o.seed ?? 0) * 1000 + d + 1);
    let query: Examples;
    if (test) query = test;
    else {
      const taken = new Set(support);
      const rest = Array.from({ length: pool.n }, (_, i) => i).filter((i) => !taken.has(i) && pool.y[i]! >= 0);
      query = gather(pool, o.maxQueries ? rest.slice(0, o.maxQueries) : rest);
    }
    if (!query.n) throw new Error('probe: no query rows left after drawing the support');
    const pred = await logregPredict(gather(pool, support), query.x, query.n, k);
    let ok = 0;
    for (let i = 0; i < query.n; i++) if (pred[i] === query.y[i]) ok++;
    perDraw.push(ok / query.n);
    queries = query.n;
  }
  const accuracy = perDraw.reduce((a, b) => a + b, 0) / draws;
  const std = Math.sqrt(perDraw.reduce((a, b) => a + (b - accuracy) ** 2, 0) / Math.max(1, draws - 1));
  return { shots, draws, accuracy, std, perDraw, queries };
}
