/**
 * Multiply and Add of a tensor [..., C] with a per-channel vector (shape [C] or [1, …, 1, C]), in
 * either order, as one SIMD pass (`simd.ts`): frozen BatchNorm (x·a + b) and its gradient (dy·a)
 * do this on every activation. The stock kernels' broadcasting path took ~4× as long as their
 * same-shape one. Other shapes and dtypes go to the stock kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, ptr } from './backend.js';
import { simdOps } from './simd.js';
import { runStock } from './stock.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap };

/** [big, per-channel vector] when one operand broadcasts over the other's last axis only. */
function split(a: TensorInfo, b: TensorInfo): [TensorInfo, TensorInfo] | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  for (const [big, small] of [[a, b], [b, a]]) {
    const C = big.shape[big.shape.length - 1];
    const r = small.shape.length;
    if (big.shape.length < 2 || r < 1 || r > big.shape.length || small.shape[r - 1] !== C) continue;
    if (small.shape.slice(0, -1).every((d) => d === 1) && tf.util.sizeFromShape(big.shape) > C) return [big, small];
  }
  return undefined;
}

function channelOp(name: 'Multiply' | 'Add', args: Args): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const parts = split(a, b);
  if (!parts) return runStock(name, args);
  const [big, vec] = parts;
  const C = vec.shape[vec.shape.length - 1];
  const out = alloc(backend, big.shape.slice());
  const ops = simdOps(backend);
  const f = name === 'Multiply' ? ops.mulRows : ops.addRows;
  f(ptr(backend, out), ptr(backend, big), ptr(backend, vec), C, tf.util.sizeFromShape(big.shape) / Math.max(C, 1));
  return out;
}

export const multiplyConfig: tf.KernelConfig = {
  kernelName: 'Multiply',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => channelOp('Multiply', args)) as unknown as tf.KernelFunc,
};

export const addConfig: tf.KernelConfig = {
  kernelName: 'Add',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => channelOp('Add', args)) as unknown as tf.KernelFunc,
};
