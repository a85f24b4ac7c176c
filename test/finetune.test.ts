/** Fine-tuning the last blocks on cached cut activations (tail in tfjs-wasm, prefix in ORT). */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { finetuneClassifier, resolveCut } from '../src/recipes/finetune.js';
import { Classifier } from '../src/recipes/predict.js';
import { getBackbone } from '../src/models/registry.js';
import '../src/models/backbone.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/tfjs.js';
import { Trainer } from '../src/train/trainer.js';
import { buildTail } from '../src/models/tail.js';

type Sym = tfl.SymbolicTensor;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-ft-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await writeMnistImageFolder(data, 16);
});

test('cut points: unfreeze K maps to a block boundary; bad requests are clear errors', () => {
  const spec = getBackbone('mobilenet_v2');
  assert.deepEqual(resolveCut(spec, { unfreeze: 1 }), { cut: 'block_16_project_BN', blocks: 1 });
  assert.deepEqual(resolveCut(spec, { unfreeze: 2 }), { cut: 'block_15_add', blocks: 2 });
  assert.deepEqual(resolveCut(spec, { cut: 'block_13_project_BN' }), { cut: 'block_13_project_BN', blocks: 4 });
  assert.throws(() => resolveCut(spec, { unfreeze: 40 }), /cannot unfreeze 40 blocks of mobilenet_v2\.nsfwjs: choose 1\.\.18/);
  assert.throws(() => resolveCut(spec, { cut: 'nope' }), /"nope" is not a cut point/);
});

test('finetune: per-epoch history, bundle reload gives the same probabilities, same seed → same weights', async () => {
  const opts = { data, classes: ['0', '1', '7'], valPercent: 20, testPercent: 20, unfreeze: 1, epochs: 2, freezeEpochs: 1, batchSize: 16, seed: 3 };
  const a = await finetuneClassifier({ ...opts, out: path.join(tmp, 'ft-a') });
  assert.equal(a.backbone.layer, 'block_16_project_BN');
  assert.equal(a.backbone.dim, 7 * 7 * 320);
  assert.equal(a.history.length, 3);
  for (const h of a.history) {
    assert.ok(Number.isFinite(h.loss) && Number.isFinite(h.val_loss!) && h.val_accuracy! >= 0);
  }
  assert.ok(a.tail.trainableParams > 400_000, 'Conv_1 (320→1280) and the new head train');

  const clf = await Classifier.load(a.bundle);
  const { predictions } = await clf.predictFiles(a.testProbabilities!.ids.map((id) => path.join(data, id)));
  await clf.dispose();
  const k = a.labels.length;
  let maxDiff = 0;
  predictions.forEach((p, i) => a.labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities[l] - a.testProbabilities!.probs[i * k + j])))));
  assert.ok(maxDiff <= 1e-5, `reloaded fine-tuned bundle differs by ${maxDiff}`);

  const b = await finetuneClassifier({ ...opts, out: path.join(tmp, 'ft-b') });
  assert.equal(b.features.forwardPasses, 0, 'cut activations come from the feature store');
  assert.deepEqual(fs.readFileSync(path.join(tmp, 'ft-b', 'weights.bin')), fs.readFileSync(path.join(tmp, 'ft-a', 'weights.bin')), 'same seed, same weights');
});

test('tensor count stays flat over 1,000 training steps of a conv tail (graft kernels, frozen BN)', async () => {
  // A small MobileNet-like block: expand 1×1, depthwise 3×3 stride 2, BN (frozen), ReLU6, max-pool, head.
  const inp = tfl.input({ shape: [6, 6, 4] });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 1, name: 'expand' }).apply(inp) as Sym;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', name: 'dw' }).apply(x) as Sym;
  x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as Sym;
  x = tfl.layers.reLU({ maxValue: 6, name: 'relu6' }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 1, name: 'pool' }).apply(x) as Sym;
  x = tfl.layers.flatten({ name: 'flat' }).apply(x) as Sym;
  const base = tfl.model({ inputs: inp, outputs: x });
  const tail = buildTail(base, 'expand', 'flat');
  const i2 = tfl.input({ shape: [6 * 6 * 8] });
  let y = tfl.layers.reshape({ targetShape: [6, 6, 8] }).apply(i2) as Sym;
  y = tail.apply(y) as Sym;
  const model = tfl.model({ inputs: i2, outputs: tfl.layers.dense({ units: 3, name: 'logits' }).apply(y) as Sym });
  const n = 40;
  const data = { x: Float32Array.from({ length: n * 288 }, (_, i) => Math.sin(i * 0.37)), y: Int32Array.from({ length: n }, (_, i) => i % 3), n, dim: 288 };
  const counts: number[] = [];
  let steps = 0;
  const t = new Trainer(model, {
    optimizer: 'adamw',
    batchSize: 4,
    epochs: 100, // 10 steps per epoch → 1,000 steps
    lrMultiplier: (name) => (name.startsWith('logits/') ? 1 : 0.1),
    callbacks: [{ onBatchEnd: () => void steps++, onEpochEnd: () => void counts.push(tf.memory().numTensors) }],
  });
  const hist = await t.fit(data);
  assert.equal(steps, 1000);
  assert.equal(new Set(counts.slice(1)).size, 1, `tensor count changes across epochs: ${[...new Set(counts)].join(', ')}`);
  assert.ok(hist[hist.length - 1].loss < hist[0].loss, 'it learns');
  model.dispose();
});
