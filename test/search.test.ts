/** `--search`: LR × weight-decay trials picked on validation, every trial reported. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { searchCandidates, runSearch } from '../src/train/search.js';
import { trainClassifier } from '../src/recipes/train.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-search-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await writeMnistImageFolder(data, 14);
});

test('candidates: grid = cross product; random = seeded log-uniform draws inside the range', () => {
  assert.equal(searchCandidates('grid').length, 9);
  assert.deepEqual(searchCandidates('grid', { lr: [1e-3], weightDecay: [0.1, 0.2] }), [
    { lr: 1e-3, weightDecay: 0.1 },
    { lr: 1e-3, weightDecay: 0.2 },
  ]);
  const a = searchCandidates('random', { trials: 20, seed: 4, lr: [1e-4, 1e-2], weightDecay: [1e-5, 1e-1] });
  assert.equal(a.length, 20);
  for (const c of a) assert.ok(c.lr >= 1e-4 && c.lr <= 1e-2 && c.weightDecay >= 1e-5 && c.weightDecay <= 1e-1);
  assert.deepEqual(searchCandidates('random', { trials: 20, seed: 4, lr: [1e-4, 1e-2], weightDecay: [1e-5, 1e-1] }), a);
  assert.throws(() => searchCandidates('random', { lr: [1e-2, 1e-4] }), /lr range must be two positive numbers/);
});

test('runSearch keeps the best by val accuracy (ties → lower loss) and disposes every other model', async () => {
  const disposed: number[] = [];
  const scores = [
    [0.5, 1.0],
    [0.8, 0.9],
    [0.8, 0.7],
    [0.6, 0.1],
  ];
  const r = await runSearch(
    scores.map((_, i) => ({ lr: i, weightDecay: 0 })),
    async (c) => ({ model: c.lr, valAccuracy: scores[c.lr][0], valLoss: scores[c.lr][1], epochs: 1 }),
    (m) => disposed.push(m),
  );
  assert.equal(r.model, 2);
  assert.equal(r.trials.length, 4);
  assert.deepEqual(disposed.sort(), [0, 1, 3]);
});

test('train --search random: every trial reported, the kept head is the best on validation', async () => {
  const res = await trainClassifier({
    data,
    out: path.join(tmp, 'mlp'),
    classes: ['0', '1', '7', '9'],
    valPercent: 25,
    testPercent: 20,
    head: 'mlp',
    hidden: [32],
    epochs: 8,
    search: 'random',
    searchTrials: 3,
    seed: 1,
  });
  const trials = res.head.search!;
  assert.equal(trials.length, 3);
  const best = trials.reduce((a, b) => (b.valAccuracy > a.valAccuracy || (b.valAccuracy === a.valAccuracy && b.valLoss < a.valLoss) ? b : a));
  assert.equal(res.head.lr, best.lr);
  assert.equal(res.head.weightDecay, best.weightDecay);
  assert.ok(Math.abs(res.val!.accuracy - best.valAccuracy) < 1e-9, `kept head scores ${res.val!.accuracy} on val, its trial ${best.valAccuracy}`);
  await assert.rejects(trainClassifier({ data, out: path.join(tmp, 'x'), valPercent: 0, head: 'mlp', search: 'grid' }), /validation split, which is empty/);
});

test('finetune --search: each trial starts from the pretrained weights; the kept model is the best trial', async () => {
  const opts = { data, classes: ['0', '1', '7'], valPercent: 25, testPercent: 20, unfreeze: 1, epochs: 1, freezeEpochs: 1, batchSize: 16, seed: 2 };
  const res = await finetuneClassifier({ ...opts, out: path.join(tmp, 'ft'), search: 'random', searchTrials: 2 });
  const trials = res.search!;
  assert.equal(trials.length, 2);
  const best = trials.reduce((a, b) => (b.valAccuracy > a.valAccuracy || (b.valAccuracy === a.valAccuracy && b.valLoss < a.valLoss) ? b : a));
  assert.ok(Math.abs(res.val!.accuracy - best.valAccuracy) < 1e-9, `kept model scores ${res.val!.accuracy} on val, its trial ${best.valAccuracy}`);
  // The same candidate alone, from the pretrained weights, gives the same validation accuracy:
  // so no trial inherited weights trained by an earlier one.
  const alone = await finetuneClassifier({ ...opts, out: path.join(tmp, 'ft-alone'), lr: trials[1].lr, lrBody: trials[1].lr / 10, weightDecay: trials[1].weightDecay, checkpoint: false });
  assert.ok(Math.abs(alone.val!.accuracy - trials[1].valAccuracy) < 1e-9, `trial 2 alone ${alone.val!.accuracy} vs in search ${trials[1].valAccuracy}`);
});
