/**
 * BatchMatMul for the wasm backend when there is one matrix per operand (every batch dimension 1):
 * one GEMM (`gemm.ts`), which takes transposes natively; the stock kernel's transpose-flag path is
 * ~13× slower than its plain one (a dense layer's weight gradient xᵀ·dy takes it). Batched
 * products, non-float32 inputs, and plain products that would not run natively go to the stock
 * kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, view } from './backend.js';
import { gemm, nativeFor } from './gemm.js';
import { runStock } from './stock.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap };

function batchMatMul(args: Args): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA = false, transposeB = false } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  const ra = a.shape.length;
  const rb = b.shape.length;
  const single = (t: TensorInfo) => t.shape.slice(0, -2).every((d) => d === 1);
  const k = a.shape[transposeA ? ra - 2 : ra - 1];
  if (ra < 2 || rb < 2 || a.dtype !== 'float32' || b.dtype !== 'float32' || !single(a) || !single(b) || (!nativeFor(k) && !transposeA && !transposeB)) {
    return runStock('BatchMatMul', args);
  }
  const a2 = view(a, a.shape.slice(-2));
  const b2 = view(b, b.shape.slice(-2));
  const c = gemm(backend, a2, b2, transposeA, transposeB);
  const lead = Math.max(ra, rb) - 2;
  return view(c, [...new Array<number>(lead).fill(1), ...c.shape]);
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
