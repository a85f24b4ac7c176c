/**
 * Gradient kernels graft registers on the tfjs wasm backend (tfjs-backend-wasm 4.22) so that
 * convolutional layers can be trained there:
 *
 * - missing in the backend: Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 *   DepthwiseConv2dNativeBackpropInput;
 * - replaced: MaxPoolGrad (the stock one drops the gradient of all-negative windows) and
 *   Conv2DBackpropInput (the stock one is a plain loop, ~9× slower than the forward conv);
 * - added: GraftClipByValueGrad, used by ClipByValue's (ReLU6's) re-registered gradient;
 * - AvgPoolGrad: a fast path for global average pooling, the stock kernel otherwise.
 *
 * Each is checked against the tfjs cpu backend in test/kernels.test.ts.
 *
 * They are built from the backend's own fast kernels (XNNPACK matmul/conv, transposes) where one
 * fits, and otherwise from small WebAssembly SIMD loops that run on the backend's heap (simd.ts).
 * Environment knobs, for tests and measurements: GRAFT_NO_SIMD_LOOPS=1 (JS instead of the SIMD
 * loops), GRAFT_CONV_FILTER_TERMS (longest float32 sum in the conv filter gradient, default 65536).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwise-backprop-input.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { clipByValueGradConfig, clipByValueGradKernelConfig } from './clip-grad.js';
import { avgPoolGradConfig, setStockAvgPoolGrad } from './avg-pool-grad.js';

export { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
export { conv2DBackpropInput } from './conv2d-backprop-input.js';
export { depthwiseConv2dNativeBackpropFilter } from './depthwise-backprop-filter.js';
export { depthwiseConv2dNativeBackpropInput } from './depthwise-backprop-input.js';
export { maxPoolGrad } from './max-pool-grad.js';
export { simdOps } from './simd.js';

/** The kernel configs graft registers for backend 'wasm'. */
export const wasmGradKernelConfigs: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  maxPoolGradConfig,
  clipByValueGradKernelConfig,
  avgPoolGradConfig,
];

let clipGradRegistered = false;

/** Stock wasm kernels that graft replaced, to put back in `unregisterWasmGradKernels`. */
const replaced = new Map<string, tf.KernelConfig>();

function isOurs(cfg: tf.KernelConfig): boolean {
  return tf.getKernel(cfg.kernelName, 'wasm')?.kernelFunc === cfg.kernelFunc;
}

/** Register graft's wasm gradient kernels (idempotent; safe before or after the backend starts). */
export function registerWasmGradKernels(): void {
  for (const cfg of wasmGradKernelConfigs) {
    if (isOurs(cfg)) continue;
    const stock = tf.getKernel(cfg.kernelName, 'wasm');
    if (cfg === avgPoolGradConfig) setStockAvgPoolGrad(stock ?? replaced.get(cfg.kernelName));
    if (stock) {
      if (!replaced.has(cfg.kernelName)) replaced.set(cfg.kernelName, stock);
      tf.unregisterKernel(cfg.kernelName, 'wasm'); // re-registering would print a warning
    }
    tf.registerKernel(cfg);
  }
  if (!clipGradRegistered) {
    // Replaces tfjs-core's ClipByValue gradient (the ReLU6 backward) with a one-pass kernel on wasm.
    tf.registerGradient(clipByValueGradConfig);
    clipGradRegistered = true;
  }
}

/** Undo `registerWasmGradKernels` (stock kernels back; missing ones unregistered). For benchmarks. */
export function unregisterWasmGradKernels(): void {
  for (const cfg of wasmGradKernelConfigs) {
    if (!isOurs(cfg)) continue;
    tf.unregisterKernel(cfg.kernelName, 'wasm');
    const stock = replaced.get(cfg.kernelName);
    if (stock) {
      tf.registerKernel(stock);
      // If we replaced it before the backend started, its setup (binding the wasm function) never ran.
      const backend = tf.findBackend('wasm');
      if (backend && stock.setupFunc) stock.setupFunc(backend);
    }
  }
}
