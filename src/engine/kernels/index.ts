/**
 * Kernels graft registers on the tfjs wasm backend (tfjs-backend-wasm 4.22) so that
 * convolutional layers can be trained there, and fast:
 *
 * - missing in the backend: Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 *   DepthwiseConv2dNativeBackpropInput;
 * - replaced: MaxPoolGrad (the stock one drops the gradient of all-negative windows) and
 *   Conv2DBackpropInput (the stock one is a plain loop, ~9× slower than the forward conv);
 * - added: GraftMaskGrad, used by the re-registered gradients of Relu, Relu6 and ClipByValue;
 *   GraftAdam, a fused Adam(W) step (`adamUpdate`);
 * - replaced for speed, the stock kernel handling what they do not: AvgPoolGrad (global average
 *   pooling), Conv2D and FusedConv2D (1×1 filters as one native GEMM), BatchMatMul (one GEMM,
 *   transposes included), Multiply and Add (per-channel broadcast, SIMD), Sqrt (SIMD), PadV2 and
 *   Slice (in height and width: row copies);
 * - Identity: shares its input's data instead of copying it.
 *
 * Each is checked against the tfjs cpu backend in test/kernels.test.ts.
 *
 * They are built from matrix products (`gemm.ts`: onnxruntime's native SGEMM, run synchronously on
 * the heap, or XNNPACK), the backend's own fast kernels (XNNPACK conv, transposes) where one fits,
 * and otherwise from small WebAssembly SIMD loops that run on the backend's heap (simd.ts).
 * Environment knobs, for tests and measurements: GRAFT_NATIVE_GEMM=0 (XNNPACK instead of ORT for
 * the products), GRAFT_NO_SIMD_LOOPS=1 (JS instead of the SIMD loops), GRAFT_CONV_FILTER_TERMS
 * (longest float32 sum in the conv filter gradient, default 65536).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { activationGradConfigs, maskGradKernelConfig } from './activation-grad.js';
import { avgPoolGradConfig } from './avg-pool-grad.js';
import { conv2DConfig, fusedConv2DConfig } from './conv2d.js';
import { identityConfig } from './identity.js';
import { sqrtConfig } from './sqrt.js';
import { addConfig, multiplyConfig } from './channel-broadcast.js';
import { batchMatMulConfig } from './batch-mat-mul.js';
import { padV2Config, sliceConfig } from './pad-slice.js';
import { adamKernelConfig } from './adam.js';
import { tileConfig } from './tile.js';
import { rememberStock, stockKernel } from './stock.js';

export { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
export { conv2DBackpropInput } from './conv2d-backprop-input.js';
export { depthwiseConv2dNativeBackpropFilter } from './depthwise-backprop-filter.js';
export { depthwiseConv2dNativeBackpropInput } from './depthwise-backprop-input.js';
export { maxPoolGrad } from './max-pool-grad.js';
export { simdOps } from './simd.js';
export { nativeGemm } from './gemm.js';
export { adamUpdate, adamUpdateInPlace, type AdamParams } from './adam.js';

/** The kernel configs graft registers for backend 'wasm'. */
export const wasmGradKernelConfigs: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  maxPoolGradConfig,
  maskGradKernelConfig,
  avgPoolGradConfig,
  conv2DConfig,
  fusedConv2DConfig,
  identityConfig,
  sqrtConfig,
  multiplyConfig,
  addConfig,
  batchMatMulConfig,
  padV2Config,
  sliceConfig,
  adamKernelConfig,
  tileConfig,
];

let gradientsRegistered = false;

function isOurs(cfg: tf.KernelConfig): boolean {
  return tf.getKernel(cfg.kernelName, 'wasm')?.kernelFunc === cfg.kernelFunc;
}

/** Register graft's wasm gradient kernels (idempotent; safe before or after the backend starts). */
export function registerWasmGradKernels(): void {
  for (const cfg of wasmGradKernelConfigs) {
    if (isOurs(cfg)) continue;
    const stock = tf.getKernel(cfg.kernelName, 'wasm');
    if (stock) {
      rememberStock(cfg.kernelName, stock, cfg.kernelFunc);
      tf.unregisterKernel(cfg.kernelName, 'wasm'); // re-registering would print a warning
    }
    tf.registerKernel(cfg);
  }
  if (!gradientsRegistered) {
    // Replaces tfjs-core's Relu, Relu6 and ClipByValue gradients with a one-pass kernel on wasm.
    for (const g of activationGradConfigs) tf.registerGradient(g);
    gradientsRegistered = true;
  }
}

/** Undo `registerWasmGradKernels` (stock kernels back; missing ones unregistered). For benchmarks. */
export function unregisterWasmGradKernels(): void {
  for (const cfg of wasmGradKernelConfigs) {
    if (!isOurs(cfg)) continue;
    tf.unregisterKernel(cfg.kernelName, 'wasm');
    const stock = stockKernel(cfg.kernelName);
    if (stock) {
      tf.registerKernel(stock);
      // If we replaced it before the backend started, its setup (binding the wasm function) never ran.
      const backend = tf.findBackend('wasm');
      if (backend && stock.setupFunc) stock.setupFunc(backend);
    }
  }
}
