/**
 * C = op(A)·op(B) on tensors in the wasm backend's heap (op = optional transpose), for the
 * convolution kernels' big matrix products.
 *
 * Native path (default): onnxruntime-node's SGEMM (MLAS: AVX2/AVX-512 FMA), called synchronously
 * through the binding's session object with one intra-op thread, so it runs on the calling thread
 * like the wasm code. Inputs are read and the output written in place in the wasm heap (ORT
 * tensors over heap views; the output is pre-allocated), so no copies. A one-node ONNX graph
 * `Gemm(transA, transB)` per flag pair, built once. A is transposed explicitly when the inner
 * dimension is long on a CPU without AVX-512 (`transAMaxK`) (MLAS was up to 2–4× slower with transA on an AVX2 machine — 784×160 → 960
 * from [784,160]: 9.0 vs 4.2 ms, the transpose 0.6 ms — while transB costs nothing), but not
 * when it is at most TRANS_A_MAX_K, as in a dense layer's weight gradient xᵀ·dy over a batch:
 * there the transpose is a large share of the work (AVX-512 Xeon, [64,1280]ᵀ·[64,512]: 0.99 ms
 * with transA vs 1.12 transposing first; [64,512]ᵀ·[64,10]: 0.03 vs 0.09). 1×1 convolution products here ran
 * 2–4× faster than XNNPACK's wasm SIMD GEMM (784×320×1280: 10 vs 42 ms) — but with a short inner
 * dimension k XNNPACK won (200704×16×96: 59 vs 128 ms), so products with k < NATIVE_MIN_K stay
 * in wasm.
 *
 * Otherwise (also with GRAFT_NATIVE_GEMM=0, or when the binding cannot be loaded): the wasm
 * backend's BatchMatMul without transpose flags (its fast XNNPACK path; with a flag it is ~13×
 * slower), transposing operands explicitly first.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel } from '../../convert/onnx-proto.js';
import { type WasmBackend, type TensorInfo, alloc, f32, free, matMul, transpose } from './backend.js';

interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>, options: object): unknown;
}

interface Binding {
  binding: { InferenceSession: new () => BindingSession };
  initOrt(): void;
}

let binding: Binding | null | undefined;
const sessions = new Map<string, BindingSession>();

function loadBinding(): Binding | null {
  if (binding === undefined) {
    try {
      // onnxruntime-node's synchronous session wrapper (dist/binding.d.ts); its public API is async.
      binding = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Binding;
      binding.initOrt();
    } catch {
      binding = null;
    }
  }
  return binding;
}

/** Shortest inner dimension for which the native product is used. */
export const NATIVE_MIN_K = 64;

/** Longest inner dimension for which MLAS takes op(A) = Aᵀ itself (see above). */
export const TRANS_A_MAX_K = 128;

let avx512: boolean | undefined;

/** Whether this CPU has AVX-512 (Linux: the flags in /proc/cpuinfo; false elsewhere). */
function hasAvx512(): boolean {
  if (avx512 === undefined) {
    try {
      avx512 = /\bavx512f\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      avx512 = false;
    }
  }
  return avx512;
}

/**
 * Longest inner dimension for which MLAS takes Aᵀ itself: any on an AVX-512 CPU, where MLAS's
 * transposed-A path was as fast or faster for every shape measured (2-core Xeon: the whole-network
 * step's filter gradients + transposes fell from 0.88–1.02× the forward 1×1 products' time to
 * 0.68–0.76×; 784×320 → 1280 5.4 vs 8.7 ms), TRANS_A_MAX_K elsewhere (AVX2 EPYC: 2–4× slower at
 * k = 784). A fixed rule per machine, not a timed pick, so runs stay reproducible (the two orders
 * differ in the last bits for some shapes). GRAFT_TRANS_A_MAX_K overrides it (measurements, tests).
 */
export function transAMaxK(): number {
  const v = Number(process.env.GRAFT_TRANS_A_MAX_K);
  if (Number.isFinite(v) && v > 0) return v;
  return hasAvx512() ? Infinity : TRANS_A_MAX_K;
}

/** True when products (with inner dimension ≥ NATIVE_MIN_K) run in ORT's native SGEMM. */
export function nativeGemm(): boolean {
  return process.env.GRAFT_NATIVE_GEMM !== '0' && loadBinding() !== null;
}

/** True when a product with inner dimension k runs natively. */
export function nativeFor(k: number): boolean {
  return k >= NATIVE_MIN_K && nativeGemm();
}

function gemmModel(transA: boolean, transB: boolean): Uint8Array {
  const int = (name: string, i: number) => ({ name, value: { type: 'int' as const, i } });
  return encodeModel({
    irVersion: 7,
    opsetImport: [{ version: 13 }],
    graph: {
      name: 'graft_gemm',
      initializer: [],
      node: [{ opType: 'Gemm', input: ['a', 'b'], output: ['c'], attribute: [int('transA', +transA), int('transB', +transB)] }],
      input: [
        { name: 'a', elemType: DataType.FLOAT, shape: ['a0', 'a1'] },
        { name: 'b', elemType: DataType.FLOAT, shape: ['b0', 'b1'] },
      ],
      output: [{ name: 'c', elemType: DataType.FLOAT, shape: ['m', 'n'] }],
    },
  });
}

function session(transA: boolean, transB: boolean): BindingSession {
  const key = `${+transA}${+transB}`;
  let s = sessions.get(key);
  if (!s) {
    const b = loadBinding();
    if (!b) throw new Error('graft gemm: onnxruntime-node binding unavailable');
    s = new b.binding.InferenceSession();
    const bytes = gemmModel(transA, transB);
    s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    sessions.set(key, s);
  }
  return s;
}

/**
 * op(A)[m,k] · op(B)[k,n] → a new [m,n] tensor; `a` and `b` are 2-D (views are fine): A is
 * [k,m] when transA, B is [n,k] when transB.
 */
export function gemm(backend: WasmBackend, a: TensorInfo, b: TensorInfo, transA = false, transB = false): TensorInfo {
  const [m, ka] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (a.shape.length !== 2 || b.shape.length !== 2 || ka !== kb) {
    throw new Error(`graft gemm: shapes [${a.shape}]${transA ? 'ᵀ' : ''} × [${b.shape}]${transB ? 'ᵀ' : ''} do not fit`);
  }
  if (!nativeFor(ka)) {
    const at = transA ? transpose(backend, a, [1, 0]) : undefined;
    const bt = transB ? transpose(backend, b, [1, 0]) : undefined;
    const c = matMul(backend, at ?? a, bt ?? b);
    free(backend, at, bt);
    return c;
  }
  const nativeTransA = transA && ka <= transAMaxK();
  const at = transA && !nativeTransA ? transpose(backend, a, [1, 0]) : undefined;
  const left = at ?? a;
  const c = alloc(backend, [m, n]);
  // Views after the allocations (they may grow the heap); the run is synchronous.
  session(nativeTransA, transB).run(
    { a: new ort.Tensor('float32', f32(backend, left), left.shape), b: new ort.Tensor('float32', f32(backend, b), b.shape) },
    { c: new ort.Tensor('float32', f32(backend, c), [m, n]) },
    {},
  );
  free(backend, at);
  return c;
}

/**
 * C[m,n] = A[m,k] · B[n,k]ᵀ on plain float32 arrays (row-major; views are fine), for numeric code
 * outside tfjs (clustering, PCA). Native SGEMM on the calling thread whenever the binding loads
 * (NATIVE_MIN_K compares with XNNPACK, not with a JS loop: at k = 32 MLAS is still ~10× faster
 * than the loop), else a plain loop (float64 accumulation).
 */
export function gemmABt(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  if (a.length < m * k || b.length < n * k) throw new Error(`graft gemmABt: [${m},${k}]·[${n},${k}]ᵀ needs ${m * k} and ${n * k} values, got ${a.length} and ${b.length}`);
  const c = new Float32Array(m * n);
  if (m === 0 || n === 0) return c;
  if (k > 0 && nativeGemm()) {
    session(false, true).run(
      { a: new ort.Tensor('float32', a.subarray(0, m * k), [m, k]), b: new ort.Tensor('float32', b.subarray(0, n * k), [n, k]) },
      { c: new ort.Tensor('float32', c, [m, n]) },
      {},
    );
    return c;
  }
  for (let i = 0; i < m; i++) {
    const oa = i * k;
    for (let j = 0; j < n; j++) {
      const ob = j * k;
      let s = 0;
      for (let t = 0; t < k; t++) s += a[oa + t] * b[ob + t];
      c[i * n + j] = s;
    }
  }
  return c;
}
