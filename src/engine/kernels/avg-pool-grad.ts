/**
 * AvgPoolGrad fast path for global average pooling (one window covering the whole image, as
 * MobileNetV2's final 7×7 pool): the gradient is dy / (H·W) broadcast over every pixel. The stock
 * wasm kernel handles that case with a generic loop (~30 ms of a ~330 ms fine-tuning step); every
 * other pooling geometry still goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, f32 } from './backend.js';
import { runStock } from './stock.js';

interface Attrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function avgPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const a = args.attrs as unknown as Attrs;
  const [N, H, W, C] = input.shape;
  const [fh, fw] = typeof a.filterSize === 'number' ? [a.filterSize, a.filterSize] : a.filterSize;
  const global = fh === H && fw === W && a.pad === 'valid' && dy.shape[1] === 1 && dy.shape[2] === 1 && input.dtype === 'float32' && dy.dtype === 'float32';
  if (!global) return runStock('AvgPoolGrad', args);
  const dx = alloc(backend, [N, H, W, C]);
  const d = f32(backend, dy);
  const out = f32(backend, dx);
  const scale = 1 / (H * W);
  const row = new Float32Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) row[c] = d[n * C + c] * scale;
    for (let p = 0; p < H * W; p++) out.set(row, (n * H * W + p) * C);
  }
  return dx;
}

export const avgPoolGradConfig: tf.KernelConfig = {
  kernelName: 'AvgPoolGrad',
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as tf.KernelFunc,
};
