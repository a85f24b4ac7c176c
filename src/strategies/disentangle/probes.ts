/**
 * Linear probes that show what a code carries: a logistic regression (the few-shot `logreg`
 * method: centred, L2-normalised rows, L-BFGS) fitted on one part of the rows and scored on the
 * rest. The class probe learns labels from source training rows and is scored on source
 * validation rows; the domain probe learns source-vs-target from equally many rows of each and is
 * scored on held-out rows of each (balanced accuracy, chance 0.5).
 */
import { logregPredict } from '../fewshot/methods.js';
import type { Examples } from '../../train/source.js';
import { rng, shuffle } from '../../util/rng.js';

export interface Rows {
  x: Float32Array;
  n: number;
  dim: number;
}

/** Class accuracy of a probe trained on `train`, scored on `test` (null when `test` is empty). */
export async function classProbe(train: Examples, test: Examples, k: number): Promise<number | null> {
  if (!test.n || !train.n) return null;
  const pred = await logregPredict(train, test.x.subarray(0, test.n * test.dim), test.n, k);
  let ok = 0;
  for (let i = 0; i < test.n; i++) if (pred[i] === test.y[i]) ok++;
  return ok / test.n;
}

/** Row indices 0..n−1 shuffled by seed, the first m kept. */
function pick(n: number, m: number, seed: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  shuffle(idx, rng(seed >>> 0));
  return idx.slice(0, m);
}

/**
 * Balanced accuracy of a source-vs-target probe: min(ns, nt, max) rows of each domain, two
 * thirds of each to fit, the rest to score.
 */
export async function domainProbe(source: Rows, target: Rows, seed = 0, max = 600): Promise<number> {
  if (source.dim !== target.dim) throw new Error(`domain probe: source rows have ${source.dim} columns, target rows ${target.dim}`);
  const m = Math.min(source.n, target.n, max);
  if (m < 3) throw new Error(`domain probe: needs at least 3 rows of each domain, got ${source.n} and ${target.n}`);
  const fit = Math.max(1, Math.min(m - 1, Math.round((2 * m) / 3)));
  const { dim } = source;
  const rows = [pick(source.n, m, seed * 2 + 1), pick(target.n, m, seed * 2 + 2)];
  const dom = [source, target];
  const train: Examples = { x: new Float32Array(2 * fit * dim), y: new Int32Array(2 * fit), n: 2 * fit, dim };
  const nq = m - fit;
  const query = new Float32Array(2 * nq * dim);
  for (let d = 0; d < 2; d++) {
    for (let j = 0; j < m; j++) {
      const r = rows[d]![j]!;
      const v = dom[d]!.x.subarray(r * dim, (r + 1) * dim);
      if (j < fit) {
        train.x.set(v, (d * fit + j) * dim);
        train.y[d * fit + j] = d;
      } else query.set(v, (d * nq + j - fit) * dim);
    }
  }
  const pred = await logregPredict(train, query, 2 * nq, 2);
  let balanced = 0;
  for (let d = 0; d < 2; d++) {
    let ok = 0;
    for (let j = 0; j < nq; j++) if (pred[d * nq + j] === d) ok++;
    balanced += ok / nq / 2;
  }
  return balanced;
}
