/**
 * What weight quantisation costs, measured: the quantised TF.js model against the float32 one on
 * labelled images — the `--eval` folder (its test split if it has one, else all of it) or, by
 * default, the test split of the bundle's own training data when that folder is still there.
 * Both models run in-process on the same decoded pixels.
 */
import fs from 'node:fs';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { loadDataset, decodeToRgb } from '../data/index.js';
import type { Sample } from '../data/types.js';
import type { BundleMeta } from '../bundle/bundle.js';
import type { ClientInput } from './pixel-model.js';

export interface QuantizationEffect {
  /** Where the images came from. */
  data: string;
  images: number;
  /** Top-1 accuracy of the float32 and the quantised export. */
  float32: number;
  quantized: number;
  /** quantized − float32 (percentage points as a fraction). */
  change: number;
  /** Share of images whose top-1 class is the same in both. */
  agreement: number;
  /** Max |quantised − float32| probability over these images. */
  maxAbsDiff: number;
}

/** Labelled images to measure on, or undefined when none is available. */
async function evalSamples(meta: BundleMeta, evalData: string | undefined, limit: number): Promise<{ data: string; samples: Sample[]; labelOf: (s: Sample) => number } | undefined> {
  const t = meta.training as { data?: string; valPercent?: number; testPercent?: number; classes?: string[] };
  const data = evalData ?? t.data;
  if (!data || (!evalData && !fs.existsSync(data))) return undefined;
  const ds = evalData
    ? await loadDataset(data, { valPercent: 0, testPercent: 0 })
    : await loadDataset(data, { valPercent: t.valPercent ?? 10, testPercent: t.testPercent ?? 10, classes: t.classes });
  const unknown = ds.labels.filter((l) => !meta.labels.includes(l));
  if (unknown.length) throw new Error(`${data}: classes not in the bundle: ${unknown.join(', ')} (bundle labels: ${meta.labels.join(', ')})`);
  const test = ds.samples.filter((s) => s.split === 'test');
  const samples = (test.length ? test : ds.samples).slice(0, limit);
  if (!samples.length) return undefined;
  return { data: test.length ? `${data} (test split)` : data, samples, labelOf: (s) => meta.labels.indexOf(ds.labels[s.label]!) };
}

function argmax(p: Float32Array, off: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (p[off + j]! > p[off + best]!) best = j;
  return best;
}

export async function quantizationEffect(
  meta: BundleMeta,
  float: tfl.LayersModel,
  quantized: tfl.LayersModel,
  input: ClientInput,
  o: { evalData?: string; limit?: number } = {},
): Promise<QuantizationEffect | undefined> {
  const found = await evalSamples(meta, o.evalData, o.limit ?? 200);
  if (!found) return undefined;
  const [h, w] = meta.preprocess.size;
  const k = meta.labels.length;
  let right = [0, 0];
  let same = 0;
  let maxAbsDiff = 0;
  const batch = 8;
  for (let i = 0; i < found.samples.length; i += batch) {
    const part = found.samples.slice(i, i + batch);
    const px = new Uint8Array(Buffer.concat(await Promise.all(part.map((s) => decodeToRgb(s, meta.preprocess)))));
    const x = input.encode(px);
    const [a, b] = tf.tidy(() => {
      const t = tf.tensor4d(x, [part.length, h, w, 3]);
      return [float.predict(t) as tf.Tensor, quantized.predict(t) as tf.Tensor];
    });
    const [pa, pb] = [(await a!.data()) as Float32Array, (await b!.data()) as Float32Array];
    tf.dispose([a!, b!]);
    part.forEach((s, r) => {
      const y = found.labelOf(s);
      const [ta, tb] = [argmax(pa, r * k, k), argmax(pb, r * k, k)];
      right = [right[0]! + Number(ta === y), right[1]! + Number(tb === y)];
      same += Number(ta === tb);
      for (let j = 0; j < k; j++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(pa[r * k + j]! - pb[r * k + j]!));
    });
  }
  const n = found.samples.length;
  return { data: found.data, images: n, float32: right[0]! / n, quantized: right[1]! / n, change: (right[1]! - right[0]!) / n, agreement: same / n, maxAbsDiff };
}
