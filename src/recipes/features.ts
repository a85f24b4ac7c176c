/** Shared step of every recipe: dataset → (cached) backbone features → train/val/test examples. */
import type { Dataset, Sample, Split } from '../data/types.js';
import type { Backbone } from '../models/types.js';
import { extractFeatures, type FeatureMatrix } from '../features/extract.js';
import type { Examples } from '../train/trainer.js';
import type { Reporter } from '../util/log.js';
import { adoptAudio } from '../audio/adopt.js';

export interface SplitExamples {
  train: Examples;
  val: Examples;
  test: Examples;
  /** The samples behind each split's rows, in row order. */
  samples: Record<Split, Sample[]>;
}

/**
 * Rows of a feature matrix grouped by split. With `release`, the matrix gives its rows away: a
 * split whose rows are contiguous becomes a view (no copy) and the matrix's own reference is
 * dropped, so a large run holds the features once.
 */
export function splitRows(m: FeatureMatrix, opts: { release?: boolean } = {}): SplitExamples {
  const pick = (split: Split): [Examples, Sample[]] => {
    const idx: number[] = [];
    m.samples.forEach((s, i) => s.split === split && idx.push(i));
    const contiguous = idx.length > 0 && idx[idx.length - 1] - idx[0] === idx.length - 1;
    if (contiguous && opts.release) {
      // Rows already grouped by split: hand out a view of the matrix instead of a copy.
      const x = m.data.subarray(idx[0] * m.dim, (idx[idx.length - 1] + 1) * m.dim);
      return [{ x, y: Int32Array.from(idx, (i) => m.samples[i].label), n: idx.length, dim: m.dim }, idx.map((i) => m.samples[i])];
    }
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
  if (opts.release) m.data = new Float32Array(0); // the splits own the rows now (copies or views)
  return { train, val, test, samples: { train: trs, val: vas, test: tes } };
}

const SPLIT_ORDER: Record<Split, number> = { train: 0, val: 1, test: 2 };

/** Features of a dataset's samples, rows grouped train → val → test (so splits are views, not copies). */
export async function datasetFeatures(ds: Dataset, backbone: Backbone, opts: { reporter: Reporter; strict?: boolean; batchSize?: number }): Promise<FeatureMatrix> {
  adoptAudio(backbone, ds.audio); // a folder of sounds: the backbone reads them through the front-end
  const grouped = [...ds.samples].sort((a, b) => SPLIT_ORDER[a.split] - SPLIT_ORDER[b.split]); // stable: keeps order within a split
  return extractFeatures(grouped, backbone, { reporter: opts.reporter, strict: opts.strict, batchSize: opts.batchSize });
}
