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
import { registerWasmGradKernels, simdOps, unregisterWasmGradKernels, wasmGradKernelConfigs } from '../src/engine/kernels/index.js';
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
  } finally {
    registerWasmGradKernels();
  }
  assert.deepEqual(ours(), wasmGradKernelConfigs.map(() => true));
  assert.equal(simdOps(tf.backend() as unknown as WasmBackend).simd, true, 'WebAssembly SIMD loops in use');
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
  ];
  let seed = 100;
  for (const c of fixed) await checkConv(c, seed++);
  const r = rand(7);
  for (let i = 0; i < 24; i++) await checkConv(randomConv(r), seed++);
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
    await checkDepthwise({ N: 2, H: 9, W: 9, C: 6, M: 1, K: 3, s: 2, pad: 'same' }, 2);
    await checkDepthwise({ N: 2, H: 8, W: 8, C: 5, M: 2, K: 3, s: 1, pad: 'valid' }, 3);
    const r = rand(4);
    const xv = r.data(2 * 9 * 9 * 6).map((v) => -Math.abs(v));
    await check('maxPool (JS fallback)', () => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(tf.tensor4d(xv, [2, 9, 9, 6])));
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
  const step = () => tf.tidy(() => {
    const [gx, gw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')))([x, w]);
    const [hx, hw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')))([x, dw]);
    const [ix, iw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))([x, w]);
    const mx = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(x);
    return tf.addN([tf.sum(gx), tf.sum(gw), tf.sum(hx), tf.sum(hw), tf.sum(ix), tf.sum(iw), tf.sum(mx)]);
  });
  tf.dispose(step());
  const before = { tensors: tf.memory().numTensors, data: backend.numDataIds() };
  tf.dispose(step());
  assert.deepEqual({ tensors: tf.memory().numTensors, data: backend.numDataIds() }, before);
  tf.dispose([x, w, dw]);
});

test('a tfjs-layers conv/depthwise/maxPool model trains on wasm as on cpu', async () => {
  await initTf('wasm');
  const build = () => {
    const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
    m.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(2) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 1, kernelInitializer: init(3) }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(4) }));
    m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
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
  assert.ok(a.loss[2] < a.loss[0], 'loss decreases');
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
