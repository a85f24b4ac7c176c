/** Trainer objectives: custom losses, extra trainable modules, logged terms, checkpoints with modules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { buildHead } from '../src/train/heads.js';
import { Trainer, type Examples, type Objective } from '../src/train/trainer.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-objective-'));

function blobs(n: number, k: number, dim: number, seed: number): Examples {
  const r = rng(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => (r() - 0.5) * 4));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[y[i]][j] + (r() - 0.5) * 2;
  }
  return { x, y, n, dim };
}

const weightsOf = (m: { getWeights(): tf.Tensor[] }) => m.getWeights().map((w) => Array.from(w.dataSync()));
const head = (dim: number) => buildHead({ kind: 'mlp', inputDim: dim, numClasses: 3, hidden: [16], dropout: 0 }, 3);

test('an objective that returns the plain cross-entropy trains exactly like the default loss', async () => {
  await initTf();
  const data = blobs(90, 3, 6, 1);
  const opts = { optimizer: 'adam' as const, epochs: 3, batchSize: 32, seed: 4, restoreBest: false };
  const a = head(6);
  await new Trainer(a, opts).fit(data);
  const b = head(6);
  const seen: number[] = [];
  const ce: Objective = {
    name: 'ce',
    beforeStep: (info) => void seen.push(...info.idx),
    loss: (batch) => {
      const logits = batch.model.apply(batch.x, { training: true }) as tf.Tensor2D;
      return { loss: batch.crossEntropy(logits, batch.labels), logits };
    },
  };
  const before = tf.memory().numTensors;
  await new Trainer(b, { ...opts, objective: ce }).fit(data);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.deepEqual(weightsOf(b), weightsOf(a));
  assert.equal(seen.length, 3 * 90, 'beforeStep sees every row of every epoch');
  assert.deepEqual([...new Set(seen)].sort((p, q) => p - q), Array.from({ length: 90 }, (_, i) => i));
});

/** An objective with its own network: a second head on the logits trained to predict (label + 1) mod 3. */
function shiftedObjective(): Objective {
  const aux = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 9 }) })] });
  return {
    name: 'shifted',
    modules: [aux],
    fingerprint: { aux: 'dense3' },
    loss: (batch) => {
      const logits = batch.model.apply(batch.x, { training: true }) as tf.Tensor2D;
      const shifted = tf.cast(tf.mod(tf.add(batch.labels, 1), 3), 'int32') as tf.Tensor1D;
      const auxLoss = batch.crossEntropy(aux.apply(logits) as tf.Tensor2D, shifted);
      const main = batch.crossEntropy(logits, batch.labels);
      return { loss: tf.add(main, tf.mul(auxLoss, 0.5)) as tf.Scalar, logits, terms: { main, aux: auxLoss } };
    },
  };
}

test('an objective trains its modules, logs its terms per epoch, and resumes from a checkpoint exactly', async () => {
  await initTf();
  const data = blobs(96, 3, 5, 2);
  const opts = { optimizer: 'adamw' as const, weightDecay: 1e-3, epochs: 4, batchSize: 32, seed: 1, restoreBest: false };
  const o1 = shiftedObjective();
  const auxBefore = weightsOf(o1.modules![0]);
  const a = head(5);
  const hist = await new Trainer(a, { ...opts, objective: o1, checkpoint: { path: path.join(tmp, 'straight.ckpt') } }).fit(data);
  assert.notDeepEqual(weightsOf(o1.modules![0]), auxBefore, 'the module was trained');
  for (const h of hist) {
    assert.ok(h.terms && Number.isFinite(h.terms.main) && Number.isFinite(h.terms.aux), 'terms logged every epoch');
    assert.ok(Math.abs(h.loss - (h.terms.main + 0.5 * h.terms.aux)) < 1e-4, 'loss = main + 0.5·aux, averaged the same way');
  }
  assert.ok(hist[3].terms!.aux < hist[0].terms!.aux, `the auxiliary loss falls (${hist[0].terms!.aux} → ${hist[3].terms!.aux})`);

  const file = path.join(tmp, 'cut.ckpt');
  const b = head(5);
  const crash = { onBatchEnd: (step: number) => { if (step === 2 * 3) throw new Error('interrupted'); } };
  await assert.rejects(new Trainer(b, { ...opts, objective: shiftedObjective(), checkpoint: { path: file }, callbacks: [crash] }).fit(data), /interrupted/);
  const c = head(5);
  const o3 = shiftedObjective();
  await new Trainer(c, { ...opts, objective: o3, checkpoint: { path: file }, resume: true }).fit(data);
  assert.deepEqual(weightsOf(c), weightsOf(a), 'resumed model = straight model');
  assert.deepEqual(weightsOf(o3.modules![0]), weightsOf(o1.modules![0]), 'resumed module = straight module');

  await assert.rejects(
    new Trainer(head(5), { ...opts, objective: { ...shiftedObjective(), fingerprint: { aux: 'other' } }, checkpoint: { path: file }, resume: true }).fit(data),
    /aux/,
    'a checkpoint of another objective setting is refused, naming it',
  );
  await assert.rejects(new Trainer(head(5), { optimizer: 'lbfgs', objective: shiftedObjective() }).fit(data), /minibatch optimizer/);
});
