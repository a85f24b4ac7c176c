/** Shared step of every recipe: dataset → (cached) backbone features → train/val/test examples. */
import type { Dataset, Sample, Split } from '../data/types.js';
import type { Backbone } from '../models/types.js';
import { extractFeatures, type FeatureMatrix } from '../features/extract.js';
import type { Examples } from '../train/trainer.js';
import type { Reporter } from '../util/log.js';

export interface SplitExamples {
  train: Examples;
  val: Examples;
  test: Examples;
  /** The samples behind each split's rows, in row order. */
  samples: Record<Split, Sample[]>;
}

/**
 * Rows of a feature matrix grouped by split. With `release`, the matrix's own row buffer is
 * dropped afterwards (its rows now live in the splits), so a large run holds the features once.
 */
export function splitRows(m: FeatureMatrix, opts: { release?: boolean } = {}): SplitExamples {
  const pick = (split: Split): [Examples, Sample[]] => {
    const idx: number[] = [];
    m.samples.forEach((s, i) => s.split === split && idx.push(i));
    const x = new Float32Array(idx.length * m.dim);
    const y = new Int32Array(idx.length);
    idx.forEach((i, r) => {
      x.set(m.data.subarray(i * m.dim, (i + 1) * m.dim), r * m.dim);
      y[r] = m.samples[i].label;
    });
    return [{ x, y, n: idx.length, dim: m.dim }, idx.map((i) => m.samples[i])];
  };
  const [train, trs] = pick('train');
  const [val, vas] = pick('val');
  const [test, tes] = pick('test');
  if (opts.release) m.data = new Float32Array(0);
  return { train, val, test, samples: { train: trs, val: vas, test: tes } };
}

export async function datasetFeatures(ds: Dataset, backbone: Backbone, opts: { reporter: Reporter; strict?: boolean; batchSize?: number }): Promise<FeatureMatrix> {
  return extractFeatures(ds.samples, backbone, { reporter: opts.reporter, strict: opts.strict, batchSize: opts.batchSize });
}
