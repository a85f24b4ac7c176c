/**
 * Classification heads on feature vectors. Heads output logits; softmax is applied at prediction.
 * Training standardises features; `foldStandardization` then bakes (x-mean)/std into the first
 * Dense layer so the saved head takes raw backbone features.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { tfSeed } from '../util/rng.js';

export type HeadKind = 'linear' | 'mlp';

export interface HeadSpec {
  kind: HeadKind;
  inputDim: number;
  numClasses: number;
  /** Hidden widths of an MLP head (default [512]). */
  hidden?: number[];
  /** Dropout before each Dense of an MLP head (default 0.2). */
  dropout?: number;
}

/** Build a head (a tfjs Sequential producing logits) with seeded initialisers. */
export function buildHead(spec: HeadSpec, seed = 0): tfl.Sequential {
  const m = tfl.sequential();
  let s = seed;
  const init = () => tfl.initializers.glorotUniform({ seed: tfSeed(s++) });
  if (spec.kind === 'linear') {
    m.add(tfl.layers.dense({ inputShape: [spec.inputDim], units: spec.numClasses, kernelInitializer: 'zeros', name: 'logits' }));
    return m;
  }
  const hidden = spec.hidden ?? [512];
  const dropout = spec.dropout ?? 0.2;
  let first = true;
  hidden.forEach((units, i) => {
    m.add(
      tfl.layers.dense({
        ...(first ? { inputShape: [spec.inputDim] } : {}),
        units,
        activation: 'relu',
        kernelInitializer: init(),
        name: `hidden_${i}`,
      }),
    );
    first = false;
    if (dropout > 0) m.add(tfl.layers.dropout({ rate: dropout, seed: tfSeed(s++), name: `dropout_${i}` }));
  });
  m.add(tfl.layers.dense({ units: spec.numClasses, kernelInitializer: init(), name: 'logits' }));
  return m;
}

/** Per-column mean and std (std floored at 1e-6) of an n×dim row-major matrix. */
export function columnStats(x: Float32Array, n: number, dim: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) mean[j] += x[o + j];
  }
  for (let j = 0; j < dim; j++) mean[j] /= Math.max(1, n);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) {
      const d = x[o + j] - mean[j];
      sq[j] += d * d;
    }
  }
  const std = new Float32Array(dim);
  for (let j = 0; j < dim; j++) std[j] = Math.max(1e-6, Math.sqrt(sq[j] / Math.max(1, n)));
  return { mean: Float32Array.from(mean), std };
}

/** (x - mean) / std, row-major, into a new array (or in place with `inPlace`). */
export function standardize(x: Float32Array, n: number, dim: number, mean: Float32Array, std: Float32Array, inPlace = false): Float32Array {
  const out = inPlace ? x : new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) out[o + j] = (x[o + j] - mean[j]) / std[j];
  }
  return out;
}

/** Undo `standardize` in place: x·std + mean. */
export function unstandardize(x: Float32Array, n: number, dim: number, mean: Float32Array, std: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) x[o + j] = x[o + j] * std[j] + mean[j];
  }
}

/** Fold input standardisation into the first Dense layer: W' = W/std, b' = b - (mean/std)·W. */
export function foldStandardization(model: tfl.LayersModel, mean: Float32Array, std: Float32Array): void {
  const dense = model.layers.find((l) => l.getClassName() === 'Dense');
  if (!dense) throw new Error('head has no Dense layer');
  const [w, b] = dense.getWeights();
  const folded = tf.tidy(() => {
    const s = tf.reshape(tf.tensor1d(std), [-1, 1]);
    const w2 = tf.div(w, s);
    const b2 = tf.sub(b, tf.reshape(tf.matMul(tf.reshape(tf.tensor1d(mean), [1, -1]), w2), [-1]));
    return [w2, b2];
  });
  dense.setWeights(folded);
  folded.forEach((t) => t.dispose());
}
