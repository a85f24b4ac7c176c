/**
 * Sqrt for the wasm backend as a SIMD loop (`simd.ts`): the stock kernel takes ~6 ns per element
 * (Adam's √v over every trainable weight, each step); f32x4.sqrt is exact like Math.sqrt.
 * Non-float32 inputs go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, ptr } from './backend.js';
import { simdOps } from './simd.js';
import { runStock } from './stock.js';

function sqrt(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype !== 'float32') return runStock('Sqrt', args);
  const out = alloc(backend, x.shape.slice());
  simdOps(backend).sqrt(ptr(backend, out), ptr(backend, x), tf.util.sizeFromShape(x.shape));
  return out;
}

export const sqrtConfig: tf.KernelConfig = {
  kernelName: 'Sqrt',
  backendName: 'wasm',
  kernelFunc: sqrt as unknown as tf.KernelFunc,
};
