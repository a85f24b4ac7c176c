/** Trainer checkpoints (resume = an uninterrupted run) and streaming batch sources. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf, initTf } from '../src/engine/tfjs.js';
import { buildHead } from '../src/train/heads.js';
import { Trainer, type EpochLogs, type Examples, type TrainerOptions } from '../src/train/trainer.js';
import { peekCheckpoint } from '../src/train/checkpoint.js';
import { toSource, type BatchSource } from '../src/train/source.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-ckpt-'));

/** k noisy Gaussian blobs; `noise` of the labels are random (so a big head overfits). */
function blobs(n: number, k: number, dim: number, seed: number, noise = 0): Examples {
  const rc = rng(77);
  const centers = Array.from({ length: k }, () => Array.from({ length: dim }, () => (rc() - 0.5) * 3));
  const r = rng(seed);
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = r() < noise ? Math.floor(r() * k) : c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centers[c][j] + Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  }
  return { x, y, n, dim };
}

const weightsOf = (m: { getWeights(): tf.Tensor[] }) => m.getWeights().map((w) => Array.from(w.dataSync()));
const withoutTime = (h: EpochLogs[]) => h.map(({ seconds: _s, ...rest }) => rest);

/**
 * Train `epochs` straight, then again with a crash at the first step of epoch `stopAt` (after the
 * checkpoint of epoch stopAt-1) and a resume in a fresh model and Trainer: both must agree exactly.
 */
async function straightVsResumed(name: string, opts: TrainerOptions, stopAt: number, data: { train: Examples; val: Examples }) {
  await initTf();
  const make = () => buildHead({ kind: 'mlp', inputDim: data.train.dim, numClasses: 3, hidden: [32], dropout: 0.25 }, 5);
  const file = path.join(tmp, `${name}.ckpt`);
  const a = make();
  const before = tf.memory().numTensors;
  const straight = await new Trainer(a, { ...opts, checkpoint: { path: path.join(tmp, `${name}-straight.ckpt`) } }).fit(data.train, data.val);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak from a checkpointed run');

  const b = make();
  const steps = Math.ceil(data.train.n / (opts.batchSize ?? 64));
  const crash = {
    onBatchEnd: (step: number) => {
      if (step === stopAt * steps) throw new Error('interrupted');
    },
  };
  await assert.rejects(new Trainer(b, { ...opts, checkpoint: { path: file }, callbacks: [crash] }).fit(data.train, data.val), /interrupted/);
  b.dispose();
  assert.equal(peekCheckpoint(file)!.progress.epoch, stopAt, 'the last completed epoch is on disk');

  const c = make();
  const resumedAt: number[] = [];
  const t = new Trainer(c, { ...opts, checkpoint: { path: file }, resume: true, callbacks: [{ onResume: (e) => void resumedAt.push(e) }] });
  const resumed = await t.fit(data.train, data.val);
  assert.deepEqual(resumedAt, [stopAt]);
  assert.deepEqual(withoutTime(resumed), withoutTime(straight), 'same history');
  assert.deepEqual(weightsOf(c), weightsOf(a), 'bitwise the same final weights');

  // Resuming a finished run trains nothing more and lands on the same (best-restored) weights.
  const d = make();
  const again = await new Trainer(d, { ...opts, checkpoint: { path: file }, resume: true }).fit(data.train, data.val);
  assert.deepEqual(withoutTime(again), withoutTime(straight));
  assert.deepEqual(weightsOf(d), weightsOf(a));
  for (const m of [a, c, d]) m.dispose();
  return straight;
}

test('AdamW + one-cycle + best-epoch restore: interrupted and resumed = straight', async () => {
  const data = { train: blobs(90, 3, 6, 1), val: blobs(45, 3, 6, 2) };
  const h = await straightVsResumed('adamw', { optimizer: 'adamw', lr: 0.02, weightDecay: 0.05, schedule: 'onecycle', epochs: 6, batchSize: 16, seed: 4 }, 3, data);
  assert.equal(h.length, 6);
});

test('SGD + momentum + cosine, early stopping on val_loss after the interruption: resumed = straight', async () => {
  // Noisy labels and a big head: validation loss turns up and patience stops the run.
  const data = { train: blobs(48, 3, 6, 3, 0.2), val: blobs(60, 3, 6, 4, 0.2) };
  const opts: TrainerOptions = { optimizer: 'sgd', lr: 0.005, momentum: 0.9, schedule: 'cosine', epochs: 40, batchSize: 8, seed: 2, patience: 3, monitor: 'val_loss' };
  const h = await straightVsResumed('sgd', opts, 13, data);
  const best = h.reduce((b, l, i) => (l.val_loss! < h[b].val_loss! ? i : b), 0);
  assert.ok(best < 13 && h.length > 13 && h.length < 40, `best epoch ${best} before the interruption, early stop after it (${h.length} epochs)`);
});

test('a checkpoint only resumes its own run: clear errors otherwise', async () => {
  await initTf();
  const train = blobs(30, 3, 4, 5);
  const file = path.join(tmp, 'own.ckpt');
  const opts: TrainerOptions = { optimizer: 'adam', epochs: 2, batchSize: 10, checkpoint: { path: file, tag: 'run A' } };
  const m = buildHead({ kind: 'mlp', inputDim: 4, numClasses: 3, hidden: [8] }, 1);
  await new Trainer(m, opts).fit(train);
  const fit = (model: ReturnType<typeof buildHead>, o: TrainerOptions, data = train) => new Trainer(model, { ...opts, ...o, resume: true }).fit(data);
  await assert.rejects(fit(m, { checkpoint: { path: file, tag: 'run B' } }), /own\.ckpt: this checkpoint belongs to "run A", not to "run B"/);
  await assert.rejects(fit(m, { batchSize: 5 }), /own\.ckpt: checkpoint written with other training options or data: batchSize 5 now vs 10 in the checkpoint/);
  await assert.rejects(fit(m, {}, blobs(31, 3, 4, 5)), /other training options or data: train "31×4/);
  const other = buildHead({ kind: 'mlp', inputDim: 4, numClasses: 3, hidden: [9] }, 1);
  await assert.rejects(fit(other, {}), /own\.ckpt: checkpoint of another model: weight 0 is hidden_0\/kernel \[4,8\] there, hidden_0\/kernel \[4,9\] here/);
  const junk = path.join(tmp, 'junk.ckpt');
  fs.writeFileSync(junk, 'not a checkpoint');
  await assert.rejects(fit(m, { checkpoint: { path: junk, tag: 'run A' } }), /junk\.ckpt: not a readable graft checkpoint/);
  await assert.rejects(new Trainer(m, { optimizer: 'lbfgs', checkpoint: { path: file } }).fit(train), /checkpoints need a minibatch optimizer/);
  // No file: resume starts fresh.
  const fresh = await fit(m, { checkpoint: { path: path.join(tmp, 'absent.ckpt'), tag: 'run A' } });
  assert.equal(fresh.length, 2);
  m.dispose();
  other.dispose();
});

test('a streaming BatchSource trains exactly like in-memory rows, one batch fetched ahead, views per epoch', async () => {
  await initTf();
  const train = blobs(50, 3, 5, 6);
  const val = blobs(20, 3, 5, 7);
  const calls: { epoch: number; n: number }[] = [];
  let stepsDone = 0;
  const ahead: number[] = [];
  const mem = toSource(train);
  const slow: BatchSource = {
    n: train.n,
    dim: train.dim,
    y: train.y,
    rows: async (idx, epoch) => {
      calls.push({ epoch, n: idx.length });
      await new Promise((r) => setTimeout(r, 2)); // genuinely asynchronous, like decoding
      return Float32Array.from(await mem.rows(idx, epoch));
    },
  };
  const run = async (data: Examples | BatchSource, v: Examples | BatchSource) => {
    const m = buildHead({ kind: 'mlp', inputDim: 5, numClasses: 3, hidden: [16], dropout: 0.1 }, 3);
    const t = new Trainer(m, { optimizer: 'adam', lr: 0.01, epochs: 3, batchSize: 16, seed: 9, callbacks: [{ onBatchEnd: () => void (ahead.push(calls.length - ++stepsDone)) }] });
    const h = await t.fit(data, v);
    const w = weightsOf(m);
    const ev = [t.evaluate(val), await t.evaluate(toSource(val))];
    m.dispose();
    return { h, w, ev };
  };
  const a = await run(train, val);
  calls.length = 0;
  stepsDone = 0;
  ahead.length = 0;
  const b = await run(slow, toSource(val));
  assert.deepEqual(b.w, a.w, 'same weights from a source as from in-memory examples');
  assert.deepEqual(withoutTime(b.h), withoutTime(a.h));
  assert.deepEqual(a.ev[0], a.ev[1], 'evaluate(source) = evaluate(examples)');
  const trainCalls = calls.filter((c) => c.epoch >= 0);
  assert.deepEqual([...new Set(trainCalls.map((c) => c.epoch))], [0, 1, 2], 'each epoch asks for its own view');
  assert.equal(trainCalls.length, 3 * 4, '4 batches per epoch, each fetched once');
  // After step s of an epoch, the rows of step s+1 were already requested (except at an epoch's end).
  assert.deepEqual(ahead, [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
});
