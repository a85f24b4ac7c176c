/**
 * One fused Adam(W) step per variable. tfjs-core's AdamOptimizer runs ~12 elementwise kernels per
 * variable per step (plus one for AdamW's decay), each a full pass over the weights; `GraftAdam`
 * is one SIMD pass (`simd.ts`) with the same float32 operations in the same order:
 *   m' = m·β1 + g·(1−β1);  v' = v·β2 + g²·(1−β2)
 *   x' = ((m'/c1) / (√(v'/c2) + ε) · (−lr) + x) · decay
 * where c1 = 1 − β1ᵗ, c2 = 1 − β2ᵗ (tfjs-core's bias corrections, after t steps) and decay is
 * AdamW's decoupled factor 1 − lr·wd (1 for none). `adamUpdate` runs it on wasm and the same
 * formula as tensor ops elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, ptr } from './backend.js';
import { simdOps } from './simd.js';

export const ADAM_KERNEL = 'GraftAdam';

export interface AdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ after this step's t (t = 1 for the first step). */
  c1: number;
  c2: number;
  /** Factor applied to the updated weights (AdamW: 1 − lr·weightDecay); default 1. */
  decay?: number;
}

function adam(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const { x, m, v, g } = args.inputs as { x: TensorInfo; m: TensorInfo; v: TensorInfo; g: TensorInfo };
  const p = args.attrs as unknown as AdamParams;
  assertFloat32('Adam', x, m, v, g);
  const n = tf.util.sizeFromShape(x.shape);
  for (const t of [m, v, g]) {
    if (tf.util.sizeFromShape(t.shape) !== n) throw new Error(`graft Adam: shapes [${x.shape}] and [${t.shape}] differ`);
  }
  const [ox, om, ov] = [alloc(backend, x.shape.slice()), alloc(backend, x.shape.slice()), alloc(backend, x.shape.slice())];
  simdOps(backend).adam(
    ptr(backend, x), ptr(backend, m), ptr(backend, v), ptr(backend, g), ptr(backend, ox), ptr(backend, om), ptr(backend, ov), n,
    p.beta1, 1 - p.beta1, p.beta2, 1 - p.beta2, p.c1, p.c2, -p.lr, p.epsilon, p.decay ?? 1);
  return [ox, om, ov];
}

export const adamKernelConfig: tf.KernelConfig = {
  kernelName: ADAM_KERNEL,
  backendName: 'wasm',
  kernelFunc: adam as unknown as tf.KernelFunc,
};

/** The new weights and moments after one Adam(W) step (new tensors; the inputs are unchanged). */
export function adamUpdate(x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, p: AdamParams): { x: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (tf.getBackend() === 'wasm' && [x, m, v, g].every((t) => t.dtype === 'float32')) {
    const [nx, nm, nv] = tf.engine().runKernel(ADAM_KERNEL, { x, m, v, g }, p as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { x: nx, m: nm, v: nv };
  }
  return tf.tidy(() => {
    const nm = tf.add(tf.mul(m, p.beta1), tf.mul(g, 1 - p.beta1));
    const nv = tf.add(tf.mul(v, p.beta2), tf.mul(tf.square(g), 1 - p.beta2));
    const step = tf.mul(tf.div(tf.div(nm, p.c1), tf.add(tf.sqrt(tf.div(nv, p.c2)), p.epsilon)), -p.lr);
    return { x: tf.mul(tf.add(step, x), p.decay ?? 1), m: nm, v: nv };
  });
}
