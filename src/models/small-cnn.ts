/**
 * A small CNN trained from scratch: the baseline that transfer learning is measured against
 * (`graft compare`). Three 3×3 conv stages (ReLU, 2×2 max-pool) widening 16 → 32 → 64, global
 * average pooling, dropout, a linear classifier; ~25k parameters for 10 classes at 32×32.
 * Input: flattened preprocessed NHWC rows (as the feature store holds them).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tfSeed } from '../util/rng.js';

export interface SmallCnnOptions {
  size: number;
  numClasses: number;
  widths?: number[];
  dropout?: number;
  seed?: number;
}

export function smallCnn(o: SmallCnnOptions): tfl.LayersModel {
  let seed = o.seed ?? 0;
  const init = () => tfl.initializers.heNormal({ seed: tfSeed(seed++) });
  const input = tfl.input({ shape: [o.size * o.size * 3], name: 'pixels' });
  let x = tfl.layers.reshape({ targetShape: [o.size, o.size, 3], name: 'to_nhwc' }).apply(input) as tfl.SymbolicTensor;
  (o.widths ?? [16, 32, 64]).forEach((w, i, all) => {
    x = tfl.layers.conv2d({ filters: w, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: `conv${i + 1}` }).apply(x) as tfl.SymbolicTensor;
    if (i < all.length - 1) x = tfl.layers.maxPooling2d({ poolSize: 2, name: `pool${i + 1}` }).apply(x) as tfl.SymbolicTensor;
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  if ((o.dropout ?? 0.2) > 0) x = tfl.layers.dropout({ rate: o.dropout ?? 0.2, seed: tfSeed(seed++), name: 'dropout' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: o.numClasses, kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed(seed++) }), name: 'logits' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'small_cnn' });
}
