/**
 * Where the Trainer's rows come from. `Examples` are rows already in memory; a `BatchSource`
 * produces the rows of the examples a batch asks for, when it asks (decoded images, cached
 * augmented views, …), so a dataset never has to fit in memory. Every place that takes Examples
 * also takes a BatchSource.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { decodeToTensorData, type Preprocess } from '../data/decode.js';
import type { Sample } from '../data/types.js';

/** Dense row-major examples: x is n×dim, y holds class indices. */
export interface Examples {
  x: Float32Array;
  y: Int32Array;
  n: number;
  dim: number;
}

/** The `epoch` a source is asked for outside training (evaluation): the plain, unaugmented view. */
export const EVAL_EPOCH = -1;

export interface BatchSource {
  readonly n: number;
  readonly dim: number;
  /** Class index of every example. */
  readonly y: Int32Array;
  /**
   * Rows of the examples at `indices`, row-major (indices.length × dim). `epoch` ≥ 0 is the
   * training epoch (a source may return another augmented view each epoch); `EVAL_EPOCH` asks
   * for the plain view. `indices` is only valid during the call; the result may be a view of
   * the source's own memory: read it, do not modify or keep it.
   */
  rows(indices: Int32Array, epoch: number): Promise<Float32Array>;
}

export function isBatchSource(d: Examples | BatchSource): d is BatchSource {
  return typeof (d as BatchSource).rows === 'function';
}

/** Rows `indices` of in-memory examples: a view when they are consecutive, else a copy. */
export function gatherRows(e: Examples, indices: Int32Array): Float32Array {
  const m = indices.length;
  const d = e.dim;
  let consecutive = true;
  for (let r = 1; r < m && consecutive; r++) consecutive = indices[r] === indices[r - 1] + 1;
  if (consecutive && m > 0) return e.x.subarray(indices[0] * d, (indices[0] + m) * d);
  const out = new Float32Array(m * d);
  for (let r = 0; r < m; r++) out.set(e.x.subarray(indices[r] * d, (indices[r] + 1) * d), r * d);
  return out;
}

/** In-memory examples as a source (no copy of the data; batches are gathered on request). */
export function toSource(d: Examples | BatchSource): BatchSource {
  if (isBatchSource(d)) return d;
  return { n: d.n, dim: d.dim, y: d.y, rows: async (indices) => gatherRows(d, indices) };
}

/** `n` consecutive indices from `start`. */
export function range(start: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => start + i);
}

/** Every row of a source in memory (the plain view), for full-batch methods such as L-BFGS. */
export async function readAll(d: Examples | BatchSource): Promise<Examples> {
  if (!isBatchSource(d)) return d;
  return { x: await d.rows(range(0, d.n), EVAL_EPOCH), y: d.y, n: d.n, dim: d.dim };
}

/**
 * Rows per inference batch for `dim`-wide rows: up to 1024, but at most ~16 MB of input (and at
 * least `floor`, e.g. the training batch size, which is known to fit).
 */
export function evalBatchSize(dim: number, floor = 1): number {
  return Math.max(1, floor, Math.min(1024, Math.floor((1 << 22) / Math.max(1, dim))));
}

/** Softmax probabilities (n×k row-major) of a rows → logits model over a source, batch by batch. */
export async function sourceProbabilities(model: tfl.LayersModel, src: BatchSource, batchSize = evalBatchSize(src.dim)): Promise<Float32Array> {
  const k = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const out = new Float32Array(src.n * k);
  for (let s = 0; s < src.n; s += batchSize) {
    const m = Math.min(batchSize, src.n - s);
    const x = await src.rows(range(s, m), EVAL_EPOCH);
    const p = tf.tidy(() => tf.softmax(model.predict(tf.tensor2d(x, [m, src.dim])) as tf.Tensor2D));
    out.set(p.dataSync() as Float32Array, s * k);
    p.dispose();
  }
  return out;
}

/**
 * Images decoded and preprocessed on request (file reads and sharp run on libuv's thread pool):
 * the rows are the network's input (H·W·3 floats, NHWC). Nothing is cached; a file that fails to
 * decode is an error naming it (check the files first when skipping is wanted).
 */
export function imageSource(samples: Sample[], pre: Preprocess): BatchSource {
  const dim = pre.size[0] * pre.size[1] * 3;
  return {
    n: samples.length,
    dim,
    y: Int32Array.from(samples, (s) => s.label),
    async rows(indices) {
      const picked = Array.from(indices, (i) => samples[i]);
      const parts = await Promise.all(picked.map((s) => decodeToTensorData(s, pre)));
      const out = new Float32Array(parts.length * dim);
      parts.forEach((p, r) => out.set(p, r * dim));
      return out;
    },
  };
}
