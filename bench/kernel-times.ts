/** Per-kernel exclusive wall time of everything the wasm backend runs from now on (benchmark profiles). */
import { tf } from '../src/engine/tfjs.js';

export function timeKernels(byShape = false): Map<string, { ms: number; calls: number }> {
  const times = new Map<string, { ms: number; calls: number }>();
  const stack: number[] = []; // time spent in nested kernels, per open frame
  for (const cfg of tf.getKernelsForBackend('wasm')) {
    const inner = cfg.kernelFunc;
    const kernelFunc: tf.KernelFunc = (args) => {
      stack.push(0);
      const t = performance.now();
      const out = inner(args);
      const dt = performance.now() - t;
      const nested = stack.pop()!;
      if (stack.length) stack[stack.length - 1] += dt;
      const key = byShape ? `${cfg.kernelName} ${Object.values(args.inputs).map((t) => `[${t?.shape}]`).join('')}` : cfg.kernelName;
      const e = times.get(key) ?? { ms: 0, calls: 0 };
      e.ms += dt - nested;
      e.calls++;
      times.set(key, e);
      return out;
    };
    tf.unregisterKernel(cfg.kernelName, 'wasm');
    tf.registerKernel({ ...cfg, kernelFunc });
  }
  return times;
}
