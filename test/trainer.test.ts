import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initTf } from '../src/engine/tfjs.js';
import { buildHead, columnStats, standardize, foldStandardization } from '../src/train/heads.js';
import { Trainer, scheduledLr, type Examples } from '../src/train/trainer.js';
import { rng } from '../src/util/rng.js';
import { SoftmaxObjective } from '../src/train/softmax-objective.js';

/** k Gaussian blobs in `dim` dimensions, offset so raw features are not standardised. */
function blobs(n: number, k: number, dim: number, seed: number, spread = 1.0): Examples {
  const rc = rng(1000 + k * 31 + dim); // centers depend on the problem, not the sample seed
  const centers = Array.from({ length: k }, () => Array.from({ length: dim }, () => (rc() - 0.5) * 4));
  const r = rng(seed);
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = c;
    for (let j = 0; j < dim; j++) {
      const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
      x[i * dim + j] = 5 + centers[c][j] + spread * g;
    }
  }
  return { x, y, n, dim };
}

test('L-BFGS linear head separates blobs and stops on convergence', async () => {
  await initTf();
  const train = blobs(600, 4, 16, 1);
  const val = blobs(200, 4, 16, 2);
  const { mean, std } = columnStats(train.x, train.n, train.dim);
  const tr = { ...train, x: standardize(train.x, train.n, train.dim, mean, std) };
  const va = { ...val, x: standardize(val.x, val.n, val.dim, mean, std) };
  const head = buildHead({ kind: 'linear', inputDim: 16, numClasses: 4 });
  const t = new Trainer(head, { optimizer: 'lbfgs', epochs: 200, weightDecay: 1e-3 });
  const hist = await t.fit(tr, va);
  assert.ok(hist.length < 200, `converged before the iteration cap (${hist.length})`);
  assert.ok(hist[hist.length - 1].loss < hist[0].loss);
  const acc = t.evaluate(va).accuracy;
  assert.ok(acc > 0.9, `val accuracy ${acc}`);
  // Folding the standardisation into the head gives the same logits on raw features.
  const before = tf.tidy(() => head.predict(tf.tensor2d(va.x, [va.n, va.dim])) as tf.Tensor).arraySync() as number[][];
  foldStandardization(head, mean, std);
  const after = tf.tidy(() => head.predict(tf.tensor2d(val.x, [val.n, val.dim])) as tf.Tensor).arraySync() as number[][];
  let maxDiff = 0;
  before.forEach((row, i) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - after[i][j])))));
  assert.ok(maxDiff < 1e-3, `folded logits differ by ${maxDiff}`);
  head.dispose();
});

test('Adam MLP head learns, is seed-deterministic, and keeps the tensor count flat', async () => {
  await initTf();
  const train = blobs(400, 3, 8, 3, 0.8);
  const val = blobs(150, 3, 8, 4, 0.8);
  const run = async (seed: number) => {
    const head = buildHead({ kind: 'mlp', inputDim: 8, numClasses: 3, hidden: [32], dropout: 0.1 }, seed);
    const counts: number[] = [];
    const t = new Trainer(head, {
      optimizer: 'adam',
      lr: 1e-2,
      epochs: 12,
      batchSize: 32,
      seed,
      callbacks: [{ onEpochEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    await t.fit(train, val);
    const w = head.getWeights().map((x) => Array.from(x.dataSync()));
    const acc = t.evaluate(val).accuracy;
    head.dispose();
    return { w, acc, counts };
  };
  const a = await run(7);
  const b = await run(7);
  assert.ok(a.acc > 0.85, `MLP val accuracy ${a.acc}`);
  assert.deepEqual(a.w, b.w, 'same seed gives the same weights');
  assert.equal(new Set(a.counts.slice(2)).size, 1, `tensor count flat across epochs: ${a.counts}`);
});

test('early stopping halts and restores the best epoch', async () => {
  await initTf();
  const train = blobs(200, 2, 4, 5);
  const val = blobs(100, 2, 4, 6);
  const head = buildHead({ kind: 'mlp', inputDim: 4, numClasses: 2, hidden: [8] }, 1);
  const t = new Trainer(head, { optimizer: 'sgd', lr: 0.05, epochs: 100, patience: 3, schedule: 'constant', seed: 1 });
  const hist = await t.fit(train, val);
  assert.ok(hist.length < 100, `stopped early after ${hist.length} epochs`);
  const bestAcc = Math.max(...hist.map((h) => h.val_accuracy!));
  assert.equal(t.evaluate(val).accuracy, bestAcc, 'restored weights reproduce the best val accuracy');
  head.dispose();
});

test('schedules', () => {
  assert.equal(scheduledLr('cosine', 1, 0, 11), 1);
  assert.ok(Math.abs(scheduledLr('cosine', 1, 10, 11)) < 1e-12);
  assert.ok(scheduledLr('onecycle', 1, 0, 100) < 0.1);
  assert.ok(Math.abs(scheduledLr('step', 1, 99, 100) - 0.01) < 1e-12);
});

test('the ORT softmax objective equals tfjs autodiff (loss and gradient), with smoothing and class weights', async () => {
  await initTf();
  const d = 6;
  const k = 3;
  const data = blobs(50, k, d, 9);
  const r = rng(3);
  const p = Float64Array.from({ length: d * k + k }, () => r() - 0.5);
  const lambda = 0.07;
  const cw = [1, 2, 0.5];
  const obj = await SoftmaxObjective.create(data, { numClasses: k, labelSmoothing: 0.1, classWeights: cw });
  const got = await obj.evaluate(p, lambda);
  await obj.release();
  const head = buildHead({ kind: 'linear', inputDim: d, numClasses: k });
  const t = new Trainer(head, { labelSmoothing: 0.1, weightDecay: lambda });
  const [W, b] = head.trainableWeights.map((w) => w.read() as tf.Variable);
  W.assign(tf.tensor2d(Float32Array.from(p.subarray(0, d * k)), [d, k]));
  b.assign(tf.tensor1d(Float32Array.from(p.subarray(d * k))));
  const x = tf.tensor2d(data.x, [data.n, d]);
  const y = tf.tensor1d(data.y, 'int32');
  const cwT = tf.tensor1d(cw);
  const { value, grads } = tf.variableGrads(() => {
    const logits = head.apply(x) as tf.Tensor2D;
    const l2 = tf.mul(tf.sum(tf.square(W)), lambda / 2);
    return tf.add(t.lossOf(logits, y, cwT), l2) as tf.Scalar;
  }, [W, b]);
  assert.ok(Math.abs(value.dataSync()[0] - got.f) < 1e-5, `loss ${value.dataSync()[0]} vs ${got.f}`);
  const ref = [...grads[W.name].dataSync(), ...grads[b.name].dataSync()];
  ref.forEach((v, i) => assert.ok(Math.abs(v - got.g[i]) < 1e-5, `grad[${i}] ${v} vs ${got.g[i]}`));
  tf.dispose([x, y, cwT, value, ...Object.values(grads)]);
  head.dispose();
});

test('seeded dropout: a fresh mask every training step (tfjs-layers repeats a seeded mask), the same masks on a rerun, the seed put back', async () => {
  await initTf();
  const { DropoutSeeds } = await import('../src/train/dropout-seeds.js');
  const head = buildHead({ kind: 'mlp', inputDim: 4, numClasses: 2, hidden: [64], dropout: 0.5 }, 3);
  const drop = head.layers.find((l) => l.getClassName() === 'Dropout')!;
  const own = (drop as unknown as { seed: number }).seed;
  const mask = () => tf.tidy(() => Array.from((drop.apply(tf.ones([2, 64]), { training: true }) as tf.Tensor).dataSync(), (v) => (v === 0 ? 0 : 1)).join(''));
  assert.equal(mask(), mask(), 'tfjs-layers alone: the same mask on every call');
  const seeds = new DropoutSeeds([head]);
  seeds.step(0);
  const m0 = mask();
  seeds.step(1);
  const m1 = mask();
  assert.notEqual(m0, m1, 'another step, another mask');
  seeds.step(0);
  assert.equal(mask(), m0, 'the same step, the same mask (a resumed run draws what the uninterrupted one did)');
  seeds.restore();
  assert.equal((drop as unknown as { seed: number }).seed, own);
  head.dispose();
});
