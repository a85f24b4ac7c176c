/**
 * Raw pixels as a "backbone": the identity map on small preprocessed images. Lets a network
 * trained from scratch (the baseline of `graft compare`) read its inputs through the same feature
 * store as every pretrained backbone (decoded once, cached, streamed).
 */
import type { Backbone, BackboneSpec } from './types.js';
import { floatBatch } from '../data/decode.js';

/** Pixel-scale normalisation for from-scratch training: (px/255 − 0.5) / 0.25. */
export function pixelsSpec(size: number): BackboneSpec {
  if (!Number.isInteger(size) || size < 8) throw new Error(`pixel input size must be an integer ≥ 8, got ${size}`);
  const refuse = (): never => {
    throw new Error('the pixels backbone has no network: it only feeds images to models trained from scratch');
  };
  return {
    name: `pixels.${size}`,
    arch: 'pixels',
    tag: String(size),
    preprocess: { size: [size, size], resize: 'squash', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    featureLayer: 'input',
    featureDim: size * size * 3,
    cutPoints: [],
    provenance: 'no weights: resized image pixels',
    license: 'n/a',
    bundled: true,
    load: async () => refuse(),
    weightsHash: async () => `pixels-v1-${size}`,
    paramCount: async () => 0,
  };
}

/** Open the pixels "backbone" (identity on preprocessed NHWC batches). */
export function openPixels(size: number): Backbone {
  const spec = pixelsSpec(size);
  let forwardCount = 0;
  return {
    spec,
    weightsHash: `pixels-v1-${size}`,
    engine: 'tfjs',
    layer: 'input',
    dim: spec.featureDim,
    get forwardCount() {
      return forwardCount;
    },
    async extract(batch: Float32Array | Uint8Array, n: number) {
      forwardCount += n;
      return floatBatch(batch, spec.preprocess).slice(0, n * spec.featureDim);
    },
    async dispose() {},
  };
}
