/**
 * The tfjs engine: trainable layers run in tfjs on the wasm backend (SIMD, one thread in Node).
 * `initTf()` must be awaited once before any tfjs work; it is idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';
// Note: graft uses functional ops only (tf.add(a, b)); chained methods (a.add(b)) are not
// registered when tfjs-core is loaded through Node's ESM loader.
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';

export { tf };
export type TfBackend = 'wasm' | 'cpu';

let ready: Promise<TfBackend> | undefined;

/** Select and initialise a tfjs backend (default wasm, or GRAFT_TF_BACKEND). */
export function initTf(backend: TfBackend = (process.env.GRAFT_TF_BACKEND as TfBackend) || 'wasm'): Promise<TfBackend> {
  if (!ready) {
    ready = (async () => {
      if (backend === 'wasm') {
        const require = createRequire(import.meta.url);
        const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
        setWasmPaths(path.join(dir, 'dist') + path.sep);
        (await import('./kernels/index.js')).registerWasmGradKernels(); // graft's kernels (kernels/index.ts)
      }
      const ok = await tf.setBackend(backend);
      if (!ok) throw new Error(`tfjs backend "${backend}" failed to initialise`);
      await tf.ready();
      return backend;
    })();
  }
  return ready;
}
