/**
 * The gradients of ReLU, ReLU6 and ClipByValue as one masking pass on wasm:
 *   dx = lo ≤ x ≤ hi ? dy : 0
 * with [lo, hi] = (0, ∞) for Relu, (0, 6] for Relu6 and [min, max] for ClipByValue (an open bound
 * 0 is the smallest positive float32, 2⁻¹⁴⁹). tfjs-core builds them from 3–5 kernels each (step,
 * cast, comparisons, logicalAnd, where, multiply); tfjs-layers' ReLU6 is relu then
 * clipByValue(0, 6), so MobileNetV2's backward pass ran ~8 of them per activation.
 *
 * `GraftMaskGrad` is a SIMD loop over the backend's heap (`simd.ts`). The gradients are
 * re-registered for these ops; on other backends (or other dtypes) they call tfjs-core's own.
 * One difference: a NaN x gives 0 here, where tfjs-core's Relu gradient (dy·step(x)) gives NaN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, ptr } from './backend.js';
import { simdOps } from './simd.js';

export const MASK_GRAD_KERNEL = 'GraftMaskGrad';
/** The smallest positive float32: `x ≥ TINY` is `x > 0`. */
const TINY = 2 ** -149;

function maskGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const { lo, hi } = args.attrs as { lo: number; hi: number };
  assertFloat32('activation gradient', dy, x);
  const dx = alloc(backend, x.shape.slice());
  simdOps(backend).inRange(ptr(backend, dx), ptr(backend, x), ptr(backend, dy), tf.util.sizeFromShape(x.shape), lo, hi);
  return dx;
}

export const maskGradKernelConfig: tf.KernelConfig = {
  kernelName: MASK_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: maskGrad as unknown as tf.KernelFunc,
};

/** Per op: the mask bounds, and tfjs-core's own gradient formula (for other backends and dtypes). */
const OPS: Record<string, { bounds: (attrs: tf.NamedAttrMap) => [number, number]; core: (dy: tf.Tensor, x: tf.Tensor, attrs: tf.NamedAttrMap) => tf.Tensor }> = {
  Relu: { bounds: () => [TINY, Infinity], core: (dy, x) => tf.mul(dy, tf.cast(tf.step(x), 'float32')) },
  Relu6: { bounds: () => [TINY, 6], core: (dy, x) => tf.mul(dy, tf.cast(tf.mul(tf.lessEqual(x, 6), tf.step(x)), 'float32')) },
  ClipByValue: {
    bounds: (a) => [a.clipValueMin as number, a.clipValueMax as number],
    core: (dy, x, a) => tf.where(tf.logicalAnd(tf.greaterEqual(x, a.clipValueMin as number), tf.lessEqual(x, a.clipValueMax as number)), dy, tf.zerosLike(dy)),
  },
};

/**
 * Gradient configs for Relu, Relu6 and ClipByValue: the masking kernel on wasm (when registered),
 * tfjs-core's formula elsewhere. (tfjs-layers registers tfjs-core's gradients when it loads: loaded after these, it
 * puts the slower ones back.)
 */
export const activationGradConfigs: readonly tf.GradConfig[] = Object.entries(OPS).map(([kernelName, { bounds, core }]) => ({
  kernelName,
  inputsToSave: ['x'],
  gradFunc: (dyIn: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const dy = dyIn as tf.Tensor;
    const [x] = saved;
    const fused = tf.getBackend() === 'wasm' && dy.dtype === 'float32' && x.dtype === 'float32' && tf.getKernel(MASK_GRAD_KERNEL, 'wasm');
    if (!fused) return { x: () => core(dy, x, attrs) }; // (also after unregisterWasmGradKernels)
    const [lo, hi] = bounds(attrs);
    return { x: () => tf.engine().runKernel(MASK_GRAD_KERNEL, { dy, x }, { lo, hi }) as tf.Tensor };
  },
}));
