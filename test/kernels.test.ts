/**
 * graft's wasm gradient kernels (src/engine/kernels) against the tfjs cpu backend.
 * Each case runs the same computation on 'wasm' and on 'cpu' in this process and requires
 * max|wasm − cpu| / max(1, max|cpu|) ≤ 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
// tfjs-layers registers the gradient functions (tf.grad of conv2d etc.) as a side effect.
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { rng } from '../src/util/rng.js';
import { adamUpdate, nativeGemm, registerWasmGradKernels, simdOps, unregisterWasmGradKernels, wasmGradKernelConfigs } from '../src/engine/kernels/index.js';
import type { WasmBackend } from '../src/engine/kernels/backend.js';

const TOL = 1e-5;
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Out = { shape: number[]; data: Float32Array };

/** Deterministic uniform [-1, 1) values (mulberry32). */
function rand(seed: number) {
  const next = rng(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)],
    data: (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1),
  };
}

async function on(backend: 'wasm' | 'cpu', f: () => tf.Tensor | tf.Tensor[]): Promise<Out[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => {
    const r = f();
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((t) => ({ shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) }));
  tf.dispose(outs);
  return res;
}

function relErr(a: Out, b: Out): number {
  assert.deepEqual(a.shape, b.shape);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.data.length; i++) {
    d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
    m = Math.max(m, Math.abs(b.data[i]));
  }
  return d / Math.max(1, m);
}

/** Run `f` on wasm and `g` (default: `f`) on cpu; compare every output. */
async function check(label: string, f: () => tf.Tensor | tf.Tensor[], g = f): Promise<void> {
  const a = await on('wasm', f);
  const b = await on('cpu', g);
  await tf.setBackend('wasm');
  assert.equal(a.length, b.length);
  a.forEach((out, i) => {
    const e = relErr(out, b[i]);
    assert.ok(e <= TOL, `${label} output ${i}: relative error ${e.toExponential(2)} > ${TOL}`);
  });
}

/** Run `f` with environment variable `name` set to `value` (restored afterwards). */
async function withEnv(name: string, value: string, f: () => Promise<void>): Promise<void> {
  const old = process.env[name];
  process.env[name] = value;
  try {
    await f();
  } finally {
    if (old === undefined) delete process.env[name];
    else process.env[name] = old;
  }
}

function outHW(H: number, W: number, K: number, s: number, pad: Pad, d = 1): [number, number] {
  const info = tf.backend_util.computeConv2DInfo([1, H, W, 1], [K, K, 1, 1], s, d, pad);
  return [info.outHeight, info.outWidth];
}

/** A filter [K,K,...] dilated by d as an undilated one [(K−1)d+1, ...] with zeros between taps. */
function stuff(w: Float32Array, K: number, rest: number, d: number): { data: Float32Array; K: number } {
  const KE = (K - 1) * d + 1;
  const out = new Float32Array(KE * KE * rest);
  for (let kh = 0; kh < K; kh++) {
    for (let kw = 0; kw < K; kw++) {
      out.set(w.subarray((kh * K + kw) * rest, (kh * K + kw + 1) * rest), (kh * d * KE + kw * d) * rest);
    }
  }
  return { data: out, K: KE };
}

/** Taps [::d, ::d] of a [KE,KE,...] gradient. */
function unstuff(t: tf.Tensor, d: number): tf.Tensor {
  const [KE, , a, b] = t.shape;
  return tf.stridedSlice(t, [0, 0, 0, 0], [KE, KE, a, b], [d, d, 1, 1]);
}

interface ConvCase { N: number; H: number; W: number; Cin: number; Cout: number; K: number; s: number; pad: Pad }

async function checkConv(c: ConvCase, seed: number): Promise<void> {
  const { N, H, W, Cin, Cout, K, s, pad } = c;
  const [OH, OW] = outHW(H, W, K, s, pad);
  const r = rand(seed);
  const xv = r.data(N * H * W * Cin);
  const wv = r.data(K * K * Cin * Cout);
  const rv = r.data(N * OH * OW * Cout);
  await check(`conv2d ${JSON.stringify(c)}`, () => {
    const x = tf.tensor4d(xv, [N, H, W, Cin]);
    const w = tf.tensor4d(wv, [K, K, Cin, Cout]);
    const rr = tf.tensor4d(rv, [N, OH, OW, Cout]);
    return tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad), rr)))([x, w]);
  });
}

interface DwCase { N: number; H: number; W: number; C: number; M: number; K: number; s: number; pad: Pad }

async function checkDepthwise(c: DwCase, seed: number): Promise<void> {
  const { N, H, W, C, M, K, s, pad } = c;
  const [OH, OW] = outHW(H, W, K, s, pad);
  const r = rand(seed);
  const xv = r.data(N * H * W * C);
  const wv = r.data(K * K * C * M);
  const rv = r.data(N * OH * OW * C * M);
  await check(`depthwiseConv2d ${JSON.stringify(c)}`, () => {
    const x = tf.tensor4d(xv, [N, H, W, C]);
    const w = tf.tensor4d(wv, [K, K, C, M]);
    const rr = tf.tensor4d(rv, [N, OH, OW, C * M]);
    return tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad), rr)))([x, w]);
  });
}

function randomConv(r: ReturnType<typeof rand>): ConvCase {
  const K = r.pick([1, 3, 5] as const);
  const pad = r.pick(['same', 'valid', 'explicit'] as const);
  const H = r.int(pad === 'valid' ? K : 2, 13);
  const W = r.int(pad === 'valid' ? K : 2, 13);
  const p: Pad = pad === 'explicit' ? [[0, 0], [r.int(0, 2), r.int(0, 2)], [r.int(0, 2), r.int(0, 2)], [0, 0]] : pad;
  const s = r.pick([1, 2] as const);
  const [OH, OW] = outHW(H, W, K, s, p);
  if (OH < 1 || OW < 1) return randomConv(r);
  return { N: r.int(1, 3), H, W, Cin: r.int(1, 9), Cout: r.int(1, 9), K, s, pad: p };
}

function randomDepthwise(r: ReturnType<typeof rand>): DwCase {
  const c = randomConv(r);
  return { N: c.N, H: c.H, W: c.W, C: r.int(1, 11), M: r.pick([1, 1, 2, 3]), K: c.K, s: c.s, pad: c.pad };
}

test('initTf registers the kernels on wasm; registration is idempotent and reversible', async () => {
  await initTf('wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const ours = () => wasmGradKernelConfigs.map((k) => tf.getKernel(k.kernelName, 'wasm')?.kernelFunc === k.kernelFunc);
  assert.deepEqual(ours(), wasmGradKernelConfigs.map(() => true));
  registerWasmGradKernels();
  registerWasmGradKernels();
  assert.deepEqual(ours(), wasmGradKernelConfigs.map(() => true));
  unregisterWasmGradKernels();
  try {
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined, 'missing in tfjs-backend-wasm 4.22');
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm'), undefined);
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm'), undefined);
    assert.ok(tf.getKernel('MaxPoolGrad', 'wasm'), 'stock kernel back');
    assert.ok(tf.getKernel('Conv2DBackpropInput', 'wasm'), 'stock kernel back');
    // The stock kernels run again, and the stock MaxPoolGrad still shows the bug graft works around.
    const [poolSum, dxSum] = tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 7);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')));
      const dx = tf.conv2dTranspose(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 3, 2]) as tf.Tensor4D, [1, 4, 4, 3], 1, 'same');
      return [tf.sum(g(x)).dataSync()[0], tf.sum(dx).dataSync()[0]];
    });
    assert.notEqual(poolSum, 128, 'tfjs-backend-wasm MaxPoolGrad is fixed upstream: graft\'s replacement may go');
    // 3 input channels × 2 output channels × Σ over pixels of in-bounds 3×3 neighbours (2+3+3+2)²
    assert.equal(dxSum, 600);
    // The activation gradients fall back to tfjs-core's formulas without graft's kernel.
    const relu6Grad = tf.tidy(() => Array.from(tf.grad((t: tf.Tensor) => tf.sum(tf.relu6(t)))(tf.tensor1d([-1, 0.5, 7])).dataSync()));
    assert.deepEqual(relu6Grad, [0, 1, 0]);
  } finally {
    registerWasmGradKernels();
  }
  assert.deepEqual(ours(), wasmGradKernelConfigs.map(() => true));
  assert.equal(simdOps(tf.backend() as unknown as WasmBackend).simd, true, 'WebAssembly SIMD loops in use');
  assert.equal(nativeGemm(), true, 'native GEMM (onnxruntime) in use');
});

test('conv2d gradients (Conv2DBackpropInput, Conv2DBackpropFilter) match cpu', async () => {
  await initTf('wasm');
  const fixed: ConvCase[] = [
    { N: 2, H: 9, W: 9, Cin: 8, Cout: 16, K: 3, s: 1, pad: 'same' },
    { N: 2, H: 9, W: 9, Cin: 8, Cout: 16, K: 3, s: 2, pad: 'same' },
    { N: 1, H: 10, W: 8, Cin: 5, Cout: 7, K: 3, s: 2, pad: 'valid' },
    { N: 3, H: 7, W: 7, Cin: 4, Cout: 6, K: 1, s: 1, pad: 'valid' },
    { N: 2, H: 8, W: 8, Cin: 4, Cout: 6, K: 1, s: 2, pad: 'same' },
    { N: 2, H: 11, W: 11, Cin: 3, Cout: 5, K: 5, s: 1, pad: 'same' },
    { N: 2, H: 12, W: 12, Cin: 3, Cout: 5, K: 5, s: 2, pad: 'valid' },
    { N: 1, H: 13, W: 11, Cin: 2, Cout: 3, K: 5, s: 2, pad: 'same' },
    { N: 2, H: 6, W: 9, Cin: 3, Cout: 4, K: 1, s: 1, pad: [[0, 0], [2, 1], [1, 2], [0, 0]] },
    { N: 2, H: 7, W: 6, Cin: 3, Cout: 4, K: 3, s: 2, pad: [[0, 0], [0, 2], [2, 1], [0, 0]] },
    { N: 2, H: 14, W: 14, Cin: 32, Cout: 32, K: 3, s: 1, pad: 'same' },
    { N: 1, H: 14, W: 14, Cin: 24, Cout: 20, K: 3, s: 2, pad: 'same' },
    { N: 4, H: 7, W: 7, Cin: 48, Cout: 24, K: 1, s: 1, pad: 'same' },
    // wide enough for the native products (inner dimension ≥ 64)
    { N: 2, H: 7, W: 7, Cin: 70, Cout: 66, K: 1, s: 1, pad: 'valid' },
    { N: 3, H: 9, W: 8, Cin: 65, Cout: 80, K: 1, s: 2, pad: 'same' },
    { N: 1, H: 8, W: 9, Cin: 67, Cout: 64, K: 1, s: 1, pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
    { N: 2, H: 9, W: 9, Cin: 5, Cout: 72, K: 3, s: 2, pad: 'same' },
  ];
  let seed = 100;
  for (const c of fixed) await checkConv(c, seed++);
  const r = rand(7);
  for (let i = 0; i < 24; i++) await checkConv(randomConv(r), seed++);
  // The filter gradient's xᵀ·dy with MLAS taking Aᵀ at any k (AVX-512) and only up to k = 128 (else).
  for (const maxK of ['128', '1e9']) {
    await withEnv('GRAFT_TRANS_A_MAX_K', maxK, async () => {
      for (const c of fixed.filter((f) => f.Cin >= 64 || f.Cout >= 64)) await checkConv(c, seed++);
    });
  }
});

test('conv2d gradients match cpu through the XNNPACK fallback too (GRAFT_NATIVE_GEMM=0)', async () => {
  await initTf('wasm');
  await withEnv('GRAFT_NATIVE_GEMM', '0', async () => {
    assert.equal(nativeGemm(), false);
    const r = rand(8);
    let seed = 200;
    await checkConv({ N: 4, H: 7, W: 7, Cin: 48, Cout: 24, K: 1, s: 1, pad: 'same' }, seed++);
    await checkConv({ N: 2, H: 7, W: 7, Cin: 12, Cout: 40, K: 1, s: 1, pad: 'valid' }, seed++);
    await checkConv({ N: 1, H: 9, W: 9, Cin: 5, Cout: 7, K: 3, s: 2, pad: 'same' }, seed++);
    for (let i = 0; i < 10; i++) await checkConv(randomConv(r), seed++);
  });
});

test('conv2d kernels with dilation 2 match cpu on the equivalent zero-stuffed filter', async () => {
  await initTf('wasm');
  // tfjs-core's Conv2D gradient refuses dilation; the kernels accept a `dilations` attribute.
  const cases: [number, number, number, number, number, number, number, Pad][] = [
    [2, 11, 11, 3, 4, 3, 1, 'same'],
    [1, 12, 10, 4, 3, 3, 1, 'valid'],
    [2, 9, 9, 2, 5, 5, 1, 'same'],
    [2, 13, 13, 3, 4, 3, 2, 'same'],
    [1, 12, 12, 5, 2, 3, 2, 'valid'],
  ];
  let seed = 300;
  for (const [N, H, W, Cin, Cout, K, s, pad] of cases) {
    const d = 2;
    const [OH, OW] = outHW(H, W, K, s, pad, d);
    const r = rand(seed++);
    const xv = r.data(N * H * W * Cin);
    const wv = r.data(K * K * Cin * Cout);
    const dyv = r.data(N * OH * OW * Cout);
    const big = stuff(wv, K, Cin * Cout, d);
    const label = `conv2d dilation ${d} ${[N, H, W, Cin, Cout, K, s, pad]}`;
    await check(label, () => {
      const x = tf.tensor4d(xv, [N, H, W, Cin]);
      const dy = tf.tensor4d(dyv, [N, OH, OW, Cout]);
      const w = tf.tensor4d(wv, [K, K, Cin, Cout]);
      return [
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [K, K, Cin, Cout], dilations: d }) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [N, H, W, Cin], dilations: d }) as tf.Tensor,
      ];
    }, () => {
      const x = tf.tensor4d(xv, [N, H, W, Cin]);
      const dy = tf.tensor4d(dyv, [N, OH, OW, Cout]);
      const w = tf.tensor4d(big.data, [big.K, big.K, Cin, Cout]);
      return [
        unstuff(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [big.K, big.K, Cin, Cout] }) as tf.Tensor, d),
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [N, H, W, Cin] }) as tf.Tensor,
      ];
    });
  }
});

test('depthwiseConv2d gradients (DepthwiseConv2dNativeBackpropInput/Filter) match cpu', async () => {
  await initTf('wasm');
  const fixed: DwCase[] = [
    { N: 2, H: 9, W: 9, C: 8, M: 1, K: 3, s: 1, pad: 'same' },
    { N: 2, H: 9, W: 9, C: 8, M: 1, K: 3, s: 2, pad: 'same' },
    { N: 1, H: 10, W: 8, C: 5, M: 1, K: 3, s: 2, pad: 'valid' },
    { N: 2, H: 8, W: 8, C: 4, M: 2, K: 3, s: 1, pad: 'same' },
    { N: 2, H: 11, W: 11, C: 6, M: 3, K: 5, s: 2, pad: 'valid' },
    { N: 2, H: 7, W: 7, C: 5, M: 1, K: 1, s: 1, pad: 'same' },
    { N: 3, H: 13, W: 13, C: 7, M: 1, K: 5, s: 1, pad: 'same' },
    { N: 2, H: 14, W: 14, C: 96, M: 1, K: 3, s: 1, pad: 'same' },
    { N: 2, H: 14, W: 14, C: 37, M: 1, K: 3, s: 2, pad: 'same' },
    { N: 1, H: 7, W: 8, C: 3, M: 1, K: 3, s: 1, pad: [[0, 0], [3, 1], [0, 4], [0, 0]] },
    { N: 1, H: 7, W: 8, C: 3, M: 2, K: 3, s: 2, pad: [[0, 0], [1, 3], [4, 0], [0, 0]] },
  ];
  let seed = 500;
  for (const c of fixed) await checkDepthwise(c, seed++);
  const r = rand(11);
  for (let i = 0; i < 24; i++) await checkDepthwise(randomDepthwise(r), seed++);
});

test('depthwise kernels with dilation 2 match cpu on the equivalent zero-stuffed filter', async () => {
  await initTf('wasm');
  const cases: [number, number, number, number, number, number, Pad][] = [
    [2, 11, 11, 6, 1, 3, 'same'],
    [1, 12, 10, 5, 1, 3, 'valid'],
    [2, 10, 10, 3, 2, 3, 'same'],
    [1, 13, 13, 8, 1, 5, 'same'],
  ];
  let seed = 700;
  for (const [N, H, W, C, M, K, pad] of cases) {
    const d = 2;
    const [OH, OW] = outHW(H, W, K, 1, pad, d);
    const r = rand(seed++);
    const xv = r.data(N * H * W * C);
    const wv = r.data(K * K * C * M);
    const dyv = r.data(N * OH * OW * C * M);
    const big = stuff(wv, K, C * M, d);
    const run = (filterK: number, wdata: Float32Array, dil: number) => {
      const x = tf.tensor4d(xv, [N, H, W, C]);
      const dy = tf.tensor4d(dyv, [N, OH, OW, C * M]);
      const w = tf.tensor4d(wdata, [filterK, filterK, C, M]);
      return [
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, dilations: dil, pad, filterShape: [filterK, filterK, C, M] }) as tf.Tensor,
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { strides: 1, dilations: dil, pad, inputShape: [N, H, W, C] }) as tf.Tensor,
      ];
    };
    await check(`depthwise dilation ${d} ${[N, H, W, C, M, K, pad]}`, () => run(K, wv, d), () => {
      const [gw, gx] = run(big.K, big.data, 1);
      return [unstuff(gw, d), gx];
    });
  }
});

test('maxPool gradient matches cpu, including all-negative windows and ties', async () => {
  await initTf('wasm');
  // The stock wasm MaxPoolGrad lost the gradient of all-negative windows: sum 120 instead of 128.
  const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 7);
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')));
  assert.equal(tf.sum(g(x)).dataSync()[0], 128);
  assert.equal(tf.sum(g(tf.neg(tf.abs(x)))).dataSync()[0], 128);

  const cases: [number, number, number, number, number, number, Pad, 'normal' | 'negative' | 'ties'][] = [
    [2, 8, 8, 4, 2, 2, 'valid', 'normal'],
    [2, 8, 8, 4, 2, 2, 'valid', 'negative'],
    [2, 9, 9, 3, 3, 2, 'same', 'negative'],
    [1, 7, 7, 5, 3, 1, 'same', 'normal'],
    [2, 11, 10, 9, 3, 2, 'valid', 'ties'],
    [2, 12, 12, 8, 3, 2, 'same', 'ties'],
    [1, 15, 15, 16, 3, 2, 'valid', 'negative'],
    [3, 6, 7, 7, 2, 1, 'valid', 'normal'],
    [1, 9, 9, 4, 3, 3, [[0, 0], [1, 1], [2, 0], [0, 0]], 'negative'],
  ];
  let seed = 900;
  for (const [N, H, W, C, K, s, pad, kind] of cases) {
    const r = rand(seed++);
    const xv = r.data(N * H * W * C).map((v) => (kind === 'negative' ? -Math.abs(v) - 0.01 : kind === 'ties' ? Math.floor(v * 2) : v));
    const [OH, OW] = outHW(H, W, K, s, pad);
    const rv = r.data(N * OH * OW * C);
    await check(`maxPool ${[N, H, W, C, K, s, JSON.stringify(pad), kind]}`, () => {
      const x = tf.tensor4d(xv, [N, H, W, C]);
      const rr = tf.tensor4d(rv, [N, OH, OW, C]);
      return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, K, s, pad as 'same'), rr)))(x);
    });
  }
});

test('JS fallback of the SIMD loops gives the same gradients', async () => {
  await initTf('wasm');
  process.env.GRAFT_NO_SIMD_LOOPS = '1';
  try {
    assert.equal(simdOps(tf.backend() as unknown as WasmBackend).simd, false);
    await checkConv({ N: 2, H: 9, W: 9, Cin: 6, Cout: 5, K: 3, s: 2, pad: 'same' }, 1);
    await checkConv({ N: 2, H: 12, W: 11, Cin: 6, Cout: 5, K: 3, s: 1, pad: 'same' }, 5); // im2col (rows ≥ 64)
    await checkConv({ N: 2, H: 13, W: 13, Cin: 3, Cout: 7, K: 3, s: 2, pad: 'valid' }, 6);
    const q = rand(7);
    const xv = q.data(2 * 5 * 5 * 13).map((v) => v * 8);
    const cv = q.data(13);
    await check('mask gradients, sqrt, per-channel mul/add (JS fallback)', () => {
      const x = tf.tensor4d(xv, [2, 5, 5, 13]);
      const c = tf.tensor1d(cv);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(tf.relu(t), 0, 6), tf.relu6(t))))(x);
      return [g, tf.sqrt(tf.abs(x)), tf.mul(x, c), tf.add(c, x)];
    });
    await check('adamUpdate (JS fallback)', () => {
      const u = adamUpdate(tf.tensor1d(xv), tf.tensor1d(xv.map((t) => t * 0.1)), tf.tensor1d(xv.map((t) => t * t)), tf.tensor1d(xv.map((t) => -t)),
        { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.19, c2: 0.002, decay: 0.999 });
      return [u.x, u.m, u.v];
    });
    await checkDepthwise({ N: 2, H: 9, W: 9, C: 6, M: 1, K: 3, s: 2, pad: 'same' }, 2);
    await checkDepthwise({ N: 2, H: 8, W: 8, C: 5, M: 2, K: 3, s: 1, pad: 'valid' }, 3);
    const r = rand(4);
    const pv = r.data(2 * 9 * 9 * 6).map((v) => -Math.abs(v));
    await check('maxPool (JS fallback)', () => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(tf.tensor4d(pv, [2, 9, 9, 6])));
  } finally {
    delete process.env.GRAFT_NO_SIMD_LOOPS;
  }
});

test('conv2d filter gradient cut into chunks (long float32 sums) matches cpu', async () => {
  await initTf('wasm');
  process.env.GRAFT_CONV_FILTER_TERMS = '100';
  try {
    await checkConv({ N: 3, H: 9, W: 9, Cin: 5, Cout: 4, K: 3, s: 1, pad: 'same' }, 21);
    await checkConv({ N: 4, H: 8, W: 7, Cin: 3, Cout: 6, K: 3, s: 2, pad: 'valid' }, 22);
    await checkConv({ N: 3, H: 9, W: 9, Cin: 6, Cout: 5, K: 1, s: 1, pad: 'valid' }, 23);
    await checkConv({ N: 2, H: 12, W: 12, Cin: 4, Cout: 7, K: 1, s: 2, pad: 'same' }, 24);
  } finally {
    delete process.env.GRAFT_CONV_FILTER_TERMS;
  }
});

test('the kernels free their intermediates', async () => {
  await initTf('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const x = tf.randomNormal([2, 10, 10, 8]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 8, 6]) as tf.Tensor4D;
  const dw = tf.randomNormal([3, 3, 8, 2]) as tf.Tensor4D;
  const w1 = tf.randomNormal([1, 1, 8, 6]) as tf.Tensor4D;
  const step = () => tf.tidy(() => {
    const [gx, gw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')))([x, w]);
    const [hx, hw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')))([x, dw]);
    const [ix, iw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))([x, w]);
    const mx = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(x);
    // 1×1 convolutions (forward with bias and activation, both gradients), ReLU6, pad, per-channel
    // scale, transposed products
    const [jx, jw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => {
      const y = tf.fused.conv2d({ x: tf.pad(x as tf.Tensor4D, [[0, 0], [0, 1], [0, 1], [0, 0]]), filter: w as tf.Tensor4D, strides: 2, pad: 'valid', bias: tf.ones([6]), activation: 'relu' });
      return tf.sum(tf.mul(tf.clipByValue(tf.relu6(y), 0, 5), tf.range(1, 7)));
    })([x, w1]);
    const mm = tf.matMul(tf.reshape(x, [20, 80]), tf.reshape(x, [20, 80]), true, false);
    return tf.addN([tf.sum(gx), tf.sum(gw), tf.sum(hx), tf.sum(hw), tf.sum(ix), tf.sum(iw), tf.sum(mx), tf.sum(jx), tf.sum(jw), tf.sum(tf.sqrt(tf.abs(mm)))]);
  });
  tf.dispose(step());
  const before = { tensors: tf.memory().numTensors, data: backend.numDataIds() };
  tf.dispose(step());
  assert.deepEqual({ tensors: tf.memory().numTensors, data: backend.numDataIds() }, before);
  tf.dispose([x, w, dw, w1]);
});

test('a tfjs-layers conv/depthwise/ReLU6/padding/maxPool/1×1-conv model trains on wasm as on cpu', async () => {
  await initTf('wasm');
  const build = () => {
    const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
    m.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2) }));
    m.add(tfl.layers.reLU({ maxValue: 6 }));
    m.add(tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 1, kernelInitializer: init(3) }));
    m.add(tfl.layers.conv2d({ filters: 5, kernelSize: 1, activation: 'relu', biasInitializer: 'ones', kernelInitializer: init(5) }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(4) }));
    m.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
    return m;
  };
  const xs = Float32Array.from({ length: 8 * 12 * 12 * 3 }, (_, i) => Math.sin(i * 0.37));
  const ys = Float32Array.from({ length: 8 * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));
  const train = async (backend: 'wasm' | 'cpu') => {
    await tf.setBackend(backend);
    const m = build();
    const x = tf.tensor4d(xs, [8, 12, 12, 3]);
    const y = tf.tensor2d(ys, [8, 3]);
    const h = await m.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
    const weights = m.getWeights().map((w) => ({ shape: w.shape.slice(), data: Float32Array.from(w.dataSync() as Float32Array) }));
    tf.dispose([x, y]);
    m.dispose();
    return { loss: h.history.loss as number[], weights };
  };
  const a = await train('wasm');
  const b = await train('cpu');
  await tf.setBackend('wasm');
  assert.ok(a.loss[2] < a.loss[0], `loss decreases: ${a.loss} (cpu ${b.loss})`);
  a.loss.forEach((l, i) => assert.ok(Math.abs(l - b.loss[i]) <= TOL, `loss ${i}: ${l} vs ${b.loss[i]}`));
  a.weights.forEach((w, i) => assert.ok(relErr(w, b.weights[i]) <= TOL, `weight ${i}`));
});

test('ClipByValue (ReLU6) gradient: one-pass wasm kernel matches cpu, including values at the bounds', async () => {
  await initTf();
  const r = rand(17);
  const data = Float32Array.from({ length: 2 * 7 * 7 * 33 }, () => (r.next() - 0.3) * 12);
  data[0] = 0;
  data[1] = 6; // exactly at the bounds: gradient passes (x ≥ min and x ≤ max)
  data[2] = -1e-7;
  const w = Float32Array.from({ length: data.length }, () => r.next() - 0.5);
  const f = () => {
    const x = tf.tensor4d(data, [2, 7, 7, 33]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, 0, 6), tf.tensor4d(w, [2, 7, 7, 33]))))(x);
    return g;
  };
  await check('clipByValue grad', f);
  const [g] = await on('wasm', f);
  await tf.setBackend('wasm');
  assert.equal(g.data[0], w[0]);
  assert.equal(g.data[1], w[1]);
  assert.equal(g.data[2], 0);
});

test('AvgPoolGrad: global-pool fast path and the stock fallback both match cpu', async () => {
  await initTf();
  const r = rand(23);
  for (const [shape, size, strides, pad] of [
    [[3, 7, 7, 20], 7, 7, 'valid'],
    [[2, 6, 5, 3], 2, 1, 'same'],
    [[1, 8, 8, 4], 3, 2, 'valid'],
  ] as const) {
    const x = r.data(shape.reduce((a, b) => a * b, 1));
    let wData: Float32Array | undefined; // the same upstream gradient on both backends
    await check(`avgPool grad ${shape} k${size}`, () => {
      const t = tf.tensor4d(x, shape as unknown as [number, number, number, number]);
      const y = tf.avgPool(t, size, strides, pad);
      wData ??= r.data(y.size);
      const w = tf.tensor(wData, y.shape);
      return tf.grad((u: tf.Tensor4D) => tf.sum(tf.mul(tf.avgPool(u, size, strides, pad), w)))(t);
    });
  }
});

interface FwdCase { N: number; H: number; W: number; Cin: number; Cout: number; s: number; pad: Pad; bias: boolean; act: string }

test('Conv2D / FusedConv2D 1×1 forward (native GEMM or stock) matches cpu: stride, padding, bias, activations', async () => {
  await initTf('wasm');
  const acts = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
  const r = rand(31);
  const cases: FwdCase[] = [
    { N: 16, H: 7, W: 7, Cin: 160, Cout: 96, s: 1, pad: 'valid', bias: false, act: 'linear' },
    { N: 1, H: 5, W: 3, Cin: 3, Cout: 1, s: 1, pad: 'same', bias: true, act: 'relu6' },
    { N: 2, H: 9, W: 8, Cin: 6, Cout: 5, s: 2, pad: 'same', bias: true, act: 'relu' },
    { N: 3, H: 6, W: 7, Cin: 4, Cout: 9, s: 2, pad: [[0, 0], [1, 2], [2, 0], [0, 0]], bias: false, act: 'leakyrelu' },
  ];
  for (let i = 0; i < 16; i++) {
    const pad: Pad = r.pick(['same', 'valid', 'explicit'] as const) === 'explicit' ? [[0, 0], [r.int(0, 2), r.int(0, 2)], [r.int(0, 2), r.int(0, 2)], [0, 0]] : r.pick(['same', 'valid'] as const);
    // Cin ≥ 64 runs natively, fewer in the stock kernel
    const Cin = r.next() < 0.7 ? r.int(64, 90) : r.int(1, 9);
    cases.push({ N: r.int(1, 3), H: r.int(1, 11), W: r.int(1, 11), Cin, Cout: r.int(1, 17), s: r.pick([1, 2, 3]), pad, bias: r.next() < 0.5, act: r.pick(acts) });
  }
  let seed = 1000;
  for (const c of cases) {
    const { N, H, W, Cin, Cout, s: st, pad, bias, act } = c;
    const q = rand(seed++);
    const xv = q.data(N * H * W * Cin);
    const wv = q.data(Cin * Cout);
    const bv = q.data(Cout);
    await check(`conv 1×1 forward ${JSON.stringify(c)}`, () => {
      const x = tf.tensor4d(xv, [N, H, W, Cin]);
      const w = tf.tensor4d(wv, [1, 1, Cin, Cout]);
      const b = bias ? tf.tensor1d(bv) : undefined;
      const plain = tf.conv2d(x, w, st, pad);
      const fused = tf.fused.conv2d({ x, filter: w, strides: st, pad, bias: b, activation: act as tf.fused.Activation, leakyreluAlpha: 0.1 });
      return [plain, fused];
    });
  }
  // Not 1×1: the stock kernels still serve it.
  await check('conv 3×3 forward (stock)', () =>
    tf.fused.conv2d({ x: tf.tensor4d(rand(5).data(2 * 6 * 6 * 3), [2, 6, 6, 3]), filter: tf.tensor4d(rand(6).data(27 * 4), [3, 3, 3, 4]), strides: 1, pad: 'same', bias: tf.tensor1d([1, 2, 3, 4]), activation: 'relu' }));
});

test('BatchMatMul as one GEMM (transposes, rank 3 batch 1) matches cpu, natively and through the fallback', async () => {
  await initTf('wasm');
  const r = rand(41);
  // k = 65 and 128: MLAS takes transA itself (TRANS_A_MAX_K); k = 129 and 1280: A is transposed
  // first, unless transA is taken at any k (AVX-512 CPUs; GRAFT_TRANS_A_MAX_K=1e9 here).
  const shapes: [number, number, number][] = [[16, 1280, 10], [1, 1, 1], [7, 3, 5], [33, 65, 17], [40, 128, 24], [24, 129, 16]];
  for (const [mode, maxK] of [['1', '128'], ['1', '1e9'], ['0', '128']]) {
    await withEnv('GRAFT_TRANS_A_MAX_K', maxK, () => withEnv('GRAFT_NATIVE_GEMM', mode, async () => {
      for (const [m, k, n] of shapes) {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
          const av = r.data(m * k);
          const bv = r.data(k * n);
          await check(`matMul ${m}x${k}x${n} tA ${ta} tB ${tb} native ${mode}`, () => {
            const a = tf.tensor(av, ta ? [k, m] : [m, k]);
            const b = tf.tensor(bv, tb ? [n, k] : [k, n]);
            return [tf.matMul(a, b, ta, tb), tf.matMul(tf.reshape(a, [1, ...a.shape]), tf.reshape(b, [1, ...b.shape]), ta, tb)];
          });
        }
      }
      // A real batch goes to the stock kernel.
      const av = r.data(3 * 4 * 5);
      const bv = r.data(3 * 6 * 5);
      await check(`batched matMul native ${mode}`, () => tf.matMul(tf.tensor3d(av, [3, 4, 5]), tf.tensor3d(bv, [3, 6, 5]), false, true));
    }));
  }
});

test('Multiply / Add with a per-channel vector (SIMD) match cpu; other broadcasts use the stock kernels', async () => {
  await initTf('wasm');
  const r = rand(51);
  const cases: [number[], number[]][] = [
    [[16, 7, 7, 960], [960]],
    [[2, 3, 5, 7], [1, 1, 1, 7]],
    [[3, 7], [7]],
    [[7], [1, 1, 7]], // the vector has the higher rank: stock
    [[4, 5, 6], [5, 1]], // not the last axis: stock
    [[5, 6], [5, 6]], // same shape: stock
    [[2, 3], []], // scalar: stock
    [[1, 9], [9]], // nothing to broadcast over: stock
  ];
  for (const [sa, sb] of cases) {
    const av = r.data(sa.reduce((p, q) => p * q, 1));
    const bv = r.data(sb.reduce((p, q) => p * q, 1));
    await check(`mul/add ${JSON.stringify([sa, sb])}`, () => {
      const a = tf.tensor(av, sa);
      const b = tf.tensor(bv, sb);
      return [tf.mul(a, b), tf.mul(b, a), tf.add(a, b), tf.add(b, a)];
    });
  }
  // int32 goes to the stock kernels
  const [m] = await on('wasm', () => tf.mul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor1d([3, 5], 'int32')));
  assert.deepEqual(Array.from(m.data), [3, 10, 9, 20]);
});

test('Relu / Relu6 / ClipByValue gradients (one masking pass) match cpu, including the bounds', async () => {
  await initTf('wasm');
  const r = rand(61);
  const n = 2 * 5 * 5 * 13;
  const data = Float32Array.from({ length: n }, () => (r.next() - 0.3) * 12);
  // at the bounds: 0 (relu: no gradient; clip [0,6]: gradient), 6, the smallest float32 either side of 0
  data.set([0, 6, -0, 2 ** -149, -(2 ** -149), 6.000001, 5.999999, -1e-7]);
  const w = r.data(n);
  const f = () => {
    const x = tf.tensor4d(data, [2, 5, 5, 13]);
    const wt = tf.tensor4d(w, [2, 5, 5, 13]);
    const g = (op: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), wt)))(x);
    return [g(tf.relu), g(tf.relu6), g((t) => tf.clipByValue(t, 0, 6)), g((t) => tf.clipByValue(tf.relu(t), 0, 6)), g((t) => tf.clipByValue(t, -2.5, 1))];
  };
  await check('activation gradients', f);
  const [relu, relu6, clip] = await on('wasm', f);
  await tf.setBackend('wasm');
  assert.deepEqual([relu.data[0], relu.data[3], relu.data[4]], [0, w[3], 0]);
  assert.deepEqual([relu6.data[1], relu6.data[5], relu6.data[6]], [w[1], 0, w[6]]);
  assert.deepEqual([clip.data[0], clip.data[1], clip.data[2]], [w[0], w[1], w[2]]);
});

test('Sqrt (SIMD) matches cpu; Identity shares data and stays valid', async () => {
  await initTf('wasm');
  const r = rand(71);
  const v = Float32Array.from({ length: 1003 }, () => r.next() * 100);
  v.set([0, 2 ** -149, 1e-30, 1, 4, 1e30]);
  await check('sqrt', () => tf.sqrt(tf.tensor1d(v)));
  const [neg] = await on('wasm', () => tf.sqrt(tf.tensor1d([-1, 4])));
  assert.ok(Number.isNaN(neg.data[0]) && neg.data[1] === 2);

  await tf.setBackend('wasm');
  const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const c = tf.clone(a);
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const ids = backend.numDataIds();
  const d = tf.clone(c);
  assert.equal(backend.numDataIds(), ids, 'a clone shares the data');
  a.dispose();
  c.dispose();
  assert.deepEqual(Array.from(d.dataSync()), [1, 2, 3, 4]);
  const v2 = tf.variable(d);
  v2.assign(tf.tensor2d([5, 6, 7, 8], [2, 2]));
  assert.deepEqual(Array.from(d.dataSync()), [1, 2, 3, 4], 'assigning a variable made from it leaves the clone alone');
  tf.dispose([d, v2]);
  assert.deepEqual(Array.from(tf.clone(tf.tensor1d(['x', 'y'], 'string')).dataSync() as unknown as string[]), ['x', 'y']);
});

test('PadV2 / Slice in height and width (row copies) match cpu, with their gradients; others use the stock kernels', async () => {
  await initTf('wasm');
  const r = rand(81);
  const x = r.data(2 * 5 * 6 * 7);
  const w = r.data(2 * 8 * 9 * 7);
  const pads: [number, number][][] = [
    [[0, 0], [0, 1], [0, 1], [0, 0]], // Keras ZeroPadding2D before a stride-2 convolution
    [[0, 0], [2, 1], [0, 0], [0, 0]],
    [[0, 0], [1, 2], [3, 0], [0, 0]],
  ];
  for (const p of pads) {
    const shape = [2, 5 + p[1][0] + p[1][1], 6 + p[2][0] + p[2][1], 7];
    const wv = w.subarray(0, shape.reduce((a, b) => a * b, 1));
    await check(`pad ${JSON.stringify(p)}`, () => {
      const t = tf.tensor4d(x, [2, 5, 6, 7]);
      const wt = tf.tensor(wv, shape);
      return [tf.pad(t, p), tf.pad(t, p, 1.5), tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.pad(u, p), wt)))(t)];
    });
  }
  await check('pad other axes (stock)', () => tf.pad(tf.tensor4d(x, [2, 5, 6, 7]), [[1, 0], [0, 1], [0, 0], [0, 2]]));
  await check('slices', () => {
    const t = tf.tensor4d(x, [2, 5, 6, 7]);
    return [
      tf.slice(t, [0, 1, 2, 0], [2, 3, 4, 7]),
      tf.slice(t, [1, 0, 0, 0], [1, -1, -1, -1]),
      tf.slice(t, [0, 4, 5, 0], [-1, 1, 1, 7]),
      tf.slice(t, [0, 0, 0, 2], [2, 5, 6, 3]), // channels: stock
      tf.slice(tf.tensor2d(x.subarray(0, 42), [6, 7]), [1, 2], [3, 4]), // rank 2: stock
    ];
  });
});

test('adamUpdate (fused Adam step on wasm) follows tfjs-core\'s Adam optimizer on cpu, with and without decay', async () => {
  await initTf('wasm');
  const r = rand(91);
  const shape = [3, 5, 7];
  const n = 105;
  const x0 = r.data(n);
  const grads = [r.data(n), r.data(n).map((v) => v * 1e-3), r.data(n).map((v) => v * 30)];
  const [lr, beta1, beta2, epsilon] = [0.01, 0.9, 0.999, 1e-7];
  // Reference: tf.train.adam on cpu (AdamW's decay as the trainer applies it: x·(1 − lr·wd) after the step).
  const reference = async (decay: number) => {
    await tf.setBackend('cpu');
    const x = tf.variable(tf.tensor(x0, shape));
    const opt = tf.train.adam(lr, beta1, beta2, epsilon);
    for (const g of grads) {
      tf.tidy(() => {
        opt.applyGradients({ [x.name]: tf.tensor(g, shape) });
        x.assign(tf.mul(x, decay));
      });
    }
    const w = await opt.getWeights();
    const out = [x, w[1].tensor, w[2].tensor].map((t) => ({ shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) }));
    opt.dispose();
    x.dispose();
    return out;
  };
  for (const decay of [1, 1 - lr * 0.05]) {
    const want = await reference(decay);
    const got = await on('wasm', () => {
      let [x, m, v] = [tf.tensor(x0, shape), tf.zeros(shape), tf.zeros(shape)];
      let [acc1, acc2] = [1, 1];
      for (const g of grads) {
        [acc1, acc2] = [Math.fround(acc1 * Math.fround(beta1)), Math.fround(acc2 * Math.fround(beta2))];
        ({ x, m, v } = adamUpdate(x, m, v, tf.tensor(g, shape), { lr, beta1, beta2, epsilon, c1: 1 - acc1, c2: 1 - acc2, decay }));
      }
      return [x, m, v];
    });
    await tf.setBackend('wasm');
    got.forEach((o, i) => assert.ok(relErr(o, want[i]) <= TOL, `decay ${decay} output ${i}: ${relErr(o, want[i])}`));
  }
  // The tensor-op path (other backends) gives the same.
  await check('adamUpdate tensor ops', () => {
    const p = { lr, beta1, beta2, epsilon, c1: 0.1, c2: 0.001, decay: 0.999 };
    const u = adamUpdate(tf.tensor(x0, shape), tf.tensor(grads[0], shape), tf.abs(tf.tensor(grads[1], shape)), tf.tensor(grads[2], shape), p);
    return [u.x, u.m, u.v];
  });
});

test('Tile: block-copy kernel matches cpu (batch-norm shapes, every axis repeated, int32, rank 1–5)', async () => {
  const r = rng(31);
  const cases: [number[], number[]][] = [
    [[1, 1, 1, 7], [4, 5, 3, 1]], // batch-norm gradient: per-channel vector → activation
    [[7], [3]],
    [[2, 3], [3, 2]],
    [[2, 1, 3], [1, 4, 2]],
    [[3, 2, 2, 5], [2, 1, 3, 2]],
    [[1, 2, 1, 2, 3], [2, 2, 3, 1, 2]],
    [[4, 3], [1, 1]],
  ];
  for (const [shape, reps] of cases) {
    const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
    await check(`tile ${shape}×${reps}`, () => tf.tile(tf.tensor(x, shape), reps));
    await check(`tile int32 ${shape}×${reps}`, () => tf.cast(tf.tile(tf.tensor(Int32Array.from(x, (v) => Math.round(v * 100)), shape, 'int32'), reps), 'float32'));
  }
  // bool goes to the stock kernel.
  await check('tile bool', () => tf.cast(tf.tile(tf.tensor([true, false, true], [3], 'bool'), [2]), 'float32'));
});
