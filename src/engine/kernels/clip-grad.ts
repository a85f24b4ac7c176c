/**
 * ClipByValue's gradient (ReLU6 in tfjs-layers is relu then clipByValue(0, 6)) as one kernel.
 *
 * tfjs-core's gradient is where(logicalAnd(x ≥ min, x ≤ max), dy, zerosLike(dy)): five kernels,
 * three boolean tensors, and on wasm the scalar-broadcast comparisons are slow — ~70 ms of a
 * ~450 ms MobileNetV2 fine-tuning step. `GraftClipByValueGrad` does it in one pass over the
 * backend's heap. The gradient is re-registered for ClipByValue; on other backends it falls back to
 * tfjs-core's formula.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, f32 } from './backend.js';

export const CLIP_GRAD_KERNEL = 'GraftClipByValueGrad';

function clipByValueGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const { clipValueMin: lo, clipValueMax: hi } = args.attrs as { clipValueMin: number; clipValueMax: number };
  assertFloat32('ClipByValue gradient', dy, x);
  const dx = alloc(backend, x.shape.slice());
  // Views after the allocation (it may grow the heap).
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const dxv = f32(backend, dx);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    dxv[i] = v >= lo && v <= hi ? dyv[i] : 0;
  }
  return dx;
}

export const clipByValueGradKernelConfig: tf.KernelConfig = {
  kernelName: CLIP_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: clipByValueGrad as unknown as tf.KernelFunc,
};

/** ClipByValue's gradient: graft's one-pass kernel on wasm, tfjs-core's formula elsewhere. */
export const clipByValueGradConfig: tf.GradConfig = {
  kernelName: 'ClipByValue',
  inputsToSave: ['x'],
  gradFunc: (dyIn, saved, attrs) => {
    const dy = dyIn as tf.Tensor;
    const [x] = saved;
    const { clipValueMin, clipValueMax } = attrs as { clipValueMin: number; clipValueMax: number };
    return {
      x: () =>
        tf.getBackend() === 'wasm' && dy.dtype === 'float32' && x.dtype === 'float32'
          ? (tf.engine().runKernel(CLIP_GRAD_KERNEL, { dy, x }, { clipValueMin, clipValueMax }) as tf.Tensor)
          : tf.where(tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax)), dy, tf.zerosLike(dy)),
    };
  },
};
