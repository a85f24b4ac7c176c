/**
 * The stock tfjs-backend-wasm kernels that graft replaces, kept so a replacement can hand the
 * cases it does not speed up back to them (`runStock`).
 *
 * A stock kernel replaced before the backend started never had its setup run (binding its wasm
 * function): that happens here, once per backend, before its first use.
 */
import * as tf from '@tensorflow/tfjs-core';

const stock = new Map<string, tf.KernelConfig>();
const setUp = new WeakMap<object, Set<string>>();

/** Remember the stock kernel of `name` (the first one seen wins; graft's own are ignored). */
export function rememberStock(name: string, cfg: tf.KernelConfig, ours: tf.KernelFunc): void {
  if (!stock.has(name) && cfg.kernelFunc !== ours) stock.set(name, cfg);
}

export function stockKernel(name: string): tf.KernelConfig | undefined {
  return stock.get(name);
}

/** Run the stock kernel of `name` with the arguments a replacement received. */
export function runStock(name: string, args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const k = stock.get(name);
  if (!k) throw new Error(`graft ${name}: no stock wasm kernel to fall back to`);
  const backend = args.backend as tf.KernelBackend;
  let done = setUp.get(backend);
  if (!done) setUp.set(backend, (done = new Set()));
  if (!done.has(name)) {
    k.setupFunc?.(backend);
    done.add(name);
  }
  const out = k.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
  if (Array.isArray(out)) throw new Error(`graft ${name}: stock kernel returned several outputs`);
  return out;
}
