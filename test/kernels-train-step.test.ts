/**
 * The kernels of one training step that write in place or fuse work (src/engine/kernels):
 * in-place Adam(W) against the allocating kernel (itself checked against tfjs-core's Adam on cpu
 * in kernels.test.ts), and its refusal when another tensor shares a variable's data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initTf } from '../src/engine/tfjs.js';
import { rng } from '../src/util/rng.js';
import { adamUpdate, adamUpdateInPlace } from '../src/engine/kernels/index.js';
import { FusedAdamOptimizer } from '../src/train/fused-adam.js';

const data = (r: () => number, n: number, scale = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
/** A variable that alone holds its data (tf.variable(t) shares t's: dispose t). */
const own = (values: Float32Array) => tf.tidy(() => tf.variable(tf.tensor1d(values)));

test('adamUpdateInPlace gives the bits of adamUpdate, step after step (odd size: SIMD body + tail)', async () => {
  await initTf('wasm');
  const r = rng(5);
  const n = 4 * 251 + 3;
  const x0 = data(r, n);
  const grads = [data(r, n), data(r, n, 1e-3), data(r, n, 30), data(r, n)];
  const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-7];
  let [acc1, acc2] = [1, 1];
  const [x, m, v] = [own(x0), own(new Float32Array(n)), own(new Float32Array(n))];
  let [rx, rm, rv] = [tf.tensor1d(x0), tf.zeros([n]), tf.zeros([n])];
  grads.forEach((gv, step) => {
    [acc1, acc2] = [Math.fround(acc1 * beta1), Math.fround(acc2 * beta2)];
    const p = { lr: 0.01 * (step + 1), beta1, beta2, epsilon, c1: 1 - acc1, c2: 1 - acc2, decay: step % 2 ? 1 - 0.01 * 0.05 : 1 };
    const g = tf.tensor1d(gv);
    assert.equal(adamUpdateInPlace(x, m, v, g, p), true);
    const next = adamUpdate(rx, rm, rv, g, p);
    tf.dispose([rx, rm, rv, g]);
    ({ x: rx, m: rm, v: rv } = next);
  });
  const ref = [rx, rm, rv].map((t) => t.dataSync());
  [x, m, v].forEach((t, i) => assert.deepEqual(t.dataSync(), ref[i], `output ${i}`));
  assert.notDeepEqual(x.dataSync(), x0);
  tf.dispose([x, m, v, rx, rm, rv]);
});

test('adamUpdateInPlace refuses shared data; FusedAdamOptimizer then leaves a snapshot of the weights intact', async () => {
  await initTf('wasm');
  const r = rng(6);
  const n = 37;
  const [x, m, v] = [own(data(r, n)), own(new Float32Array(n)), own(new Float32Array(n))];
  const g = tf.tensor1d(data(r, n));
  const p = { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 };
  const snapshot = tf.clone(x); // shares x's data (tfjs clones do not copy)
  const before = snapshot.dataSync().slice();
  assert.equal(adamUpdateInPlace(x, m, v, g, p), false);
  assert.deepEqual(x.dataSync(), before);
  assert.equal(adamUpdateInPlace(x, m, v, x, p), false, 'the gradient must not alias the weights');
  const opt = new FusedAdamOptimizer(0.1);
  for (let i = 0; i < 3; i++) opt.applyGradients({ [x.name]: g });
  assert.deepEqual(snapshot.dataSync(), before, 'the snapshot is unchanged');
  assert.notDeepEqual(x.dataSync(), before, 'the variable moved');
  // Without the snapshot the in-place path runs and agrees with the allocating one.
  const [y, ref] = [own(before), own(before)];
  const opt2 = new FusedAdamOptimizer(0.1);
  const opt3 = new FusedAdamOptimizer(0.1);
  const keep = tf.clone(ref); // forces opt3 onto the allocating path
  for (let i = 0; i < 3; i++) {
    opt2.applyGradients({ [y.name]: g });
    opt3.applyGradients({ [ref.name]: g });
  }
  assert.deepEqual(y.dataSync(), ref.dataSync());
  assert.deepEqual(y.dataSync(), x.dataSync());
  tf.dispose([x, m, v, g, snapshot, y, ref, keep]);
  opt.dispose();
  opt2.dispose();
  opt3.dispose();
});

test('after adamUpdateInPlace, XNNPACK products and convolutions see the new weights (no stale packed copy)', async () => {
  await initTf('wasm');
  const r = rng(7);
  const w = own(data(r, 8 * 5));
  const f = own(data(r, 3 * 3 * 4 * 6));
  const [wm, wv, fm, fv] = [own(new Float32Array(40)), own(new Float32Array(40)), own(new Float32Array(216)), own(new Float32Array(216))];
  const x = tf.tensor2d(data(r, 3 * 8), [3, 8]);
  const img = tf.tensor4d(data(r, 2 * 5 * 5 * 4), [2, 5, 5, 4]);
  const bias = tf.tensor1d(data(r, 5));
  const outputs = () => [
    tf.matMul(x, tf.reshape(w, [8, 5])),
    tf.fused.matMul({ a: x, b: tf.reshape(w, [8, 5]), bias, activation: 'relu' }),
    tf.conv2d(img, tf.reshape(f, [3, 3, 4, 6]), 1, 'same'),
  ];
  tf.dispose(tf.tidy(outputs)); // the kernels pack and cache the weights here
  const p = { lr: 0.5, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 };
  assert.equal(adamUpdateInPlace(w, wm, wv, tf.onesLike(w), p), true);
  assert.equal(adamUpdateInPlace(f, fm, fv, tf.onesLike(f), p), true);
  const got = tf.tidy(outputs);
  // The same products with the new values in fresh tensors.
  const [w2, f2] = [tf.tensor(w.dataSync(), [8, 5]), tf.tensor(f.dataSync(), [3, 3, 4, 6])];
  const want = [tf.matMul(x, w2), tf.fused.matMul({ a: x, b: w2, bias, activation: 'relu' }), tf.conv2d(img, f2 as tf.Tensor4D, 1, 'same')];
  got.forEach((t, i) => assert.deepEqual(t.dataSync(), want[i].dataSync(), `output ${i}`));
  tf.dispose([w, f, wm, wv, fm, fv, x, img, bias, ...got, w2, f2, ...want]);
});

test('fused Adam flushes moments that fall below the smallest normal float32 to 0 (SIMD and JS), NaN kept', async () => {
  await initTf('wasm');
  const n = 9; // two SIMD vectors + a scalar tail
  const m0 = Float32Array.from({ length: n }, (_, i) => (i === 4 ? 1 : i === 8 ? -1.2e-38 : 1.2e-38));
  const g0 = Float32Array.from({ length: n }, (_, i) => (i === 3 ? NaN : i === 4 ? 1e-3 : 0));
  const p = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 };
  for (const noSimd of ['', '1']) {
    process.env.GRAFT_NO_SIMD_LOOPS = noSimd;
    const [x, m, v] = [own(new Float32Array(n).fill(0.5)), own(m0), own(m0.map((t) => (t === 1 ? 1 : 1.176e-38)))] // ·β1, ·β2: subnormal;
    const g = tf.tensor1d(g0);
    assert.equal(adamUpdateInPlace(x, m, v, g, p), true);
    const [mx, mm, mv] = [x.dataSync(), m.dataSync(), v.dataSync()];
    for (const i of [0, 1, 2, 5, 6, 7, 8]) {
      assert.equal(mm[i], 0, `m[${i}] (SIMD off: ${noSimd})`);
      assert.equal(mv[i], 0, `v[${i}]`);
      assert.equal(mx[i], 0.5, `x[${i}] unchanged`);
    }
    assert.ok(Number.isNaN(mm[3]) && Number.isNaN(mv[3]) && Number.isNaN(mx[3]), 'NaN propagates');
    assert.ok(Math.abs(mm[4] - Math.fround(0.9 + 1e-4)) < 1e-7 && mx[4] < 0.5, 'a normal moment is untouched');
    tf.dispose([x, m, v, g]);
  }
  delete process.env.GRAFT_NO_SIMD_LOOPS;
});
