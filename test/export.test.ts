/** A bundle as one network: `graft export --onnx`, and `--from BUNDLE` (the seed's second stage). */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder, loadDataset, decodeToTensorData } from '../src/data/index.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { trainClassifier } from '../src/recipes/train.js';
import { exportOnnx } from '../src/recipes/export.js';
import { Classifier } from '../src/recipes/predict.js';
import { OrtSession } from '../src/engine/ort.js';
import { readBundleMeta } from '../src/bundle/bundle.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-export-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const split = { valPercent: 20, testPercent: 20 };

before(async () => {
  await writeMnistImageFolder(data, 12);
});

/** ONNX probabilities vs graft's Classifier on the same images. */
async function compareWithClassifier(bundle: string, onnxFile: string): Promise<number> {
  const clf = await Classifier.load(bundle);
  const ds = await loadDataset(data, { classes: clf.labels.length === 3 ? ['0', '1', '7'] : undefined });
  const samples = ds.samples.slice(0, 6);
  const { probs } = await clf.probabilities(samples, { cache: false });
  const [h, w] = clf.meta.preprocess.size;
  const x = new Float32Array(samples.length * h * w * 3);
  for (let i = 0; i < samples.length; i++) x.set(await decodeToTensorData(samples[i], clf.meta.preprocess), i * h * w * 3);
  await clf.dispose();
  const session = await OrtSession.create(onnxFile);
  const { data: out, dims } = await session.run(x, [samples.length, h, w, 3]);
  await session.release();
  assert.deepEqual(dims, [samples.length, 3]);
  let d = 0;
  for (let i = 0; i < out.length; i++) d = Math.max(d, Math.abs(out[i] - probs[i]));
  return d;
}

test('export --onnx: a fine-tuned tail bundle and a head bundle become single ONNX classifiers matching graft ≤1e-4', async () => {
  const classes = ['0', '1', '7'];
  const ft = await finetuneClassifier({ data, classes, ...split, out: path.join(tmp, 'ft'), unfreeze: 1, epochs: 1, freezeEpochs: 1, batchSize: 16, seed: 1 });
  const r = await exportOnnx(ft.bundle, path.join(tmp, 'ft.onnx'));
  assert.equal(r.output.classes, 3);
  assert.ok(r.maxAbsDiff <= 1e-4, `probe diff ${r.maxAbsDiff}`);
  const d1 = await compareWithClassifier(ft.bundle, r.file);
  assert.ok(d1 <= 1e-4, `fine-tuned bundle: ONNX vs graft predictions differ by ${d1}`);

  const lin = await trainClassifier({ data, classes, ...split, out: path.join(tmp, 'lin') });
  const r2 = await exportOnnx(lin.bundle, path.join(tmp, 'lin.onnx'));
  const d2 = await compareWithClassifier(lin.bundle, r2.file);
  assert.ok(d2 <= 1e-4, `linear-head bundle: ONNX vs graft predictions differ by ${d2}`);
  // Labels and preprocessing travel in the file's metadata.
  const bytes = fs.readFileSync(r2.file).toString('latin1');
  assert.ok(bytes.includes('graft.labels') && bytes.includes('["0","1","7"]'));
});

test('train --from BUNDLE: the bundle minus its classifier is a frozen backbone; the new bundle embeds it and reloads', async () => {
  const src = await finetuneClassifier({ data, classes: ['0', '1', '7'], ...split, out: path.join(tmp, 'src'), unfreeze: 1, epochs: 1, freezeEpochs: 1, batchSize: 16, seed: 2 });
  const target = await trainClassifier({ data, classes: ['2', '3', '4'], ...split, from: src.bundle, out: path.join(tmp, 'target') });
  assert.equal(target.backbone.dim, 1280, 'features = the input of the source classifier');
  assert.match(target.backbone.name, /^bundle\.[0-9a-f]{12}$/);
  const meta = readBundleMeta(target.bundle);
  assert.equal(meta.backbone.from, 'from');
  assert.ok(fs.existsSync(path.join(target.bundle, 'from', 'graft.json')), 'the source bundle is embedded');

  // Self-contained: delete the source bundle, the target still loads and predicts the same.
  fs.rmSync(src.bundle, { recursive: true });
  const clf = await Classifier.load(target.bundle);
  const ids = target.testProbabilities!.ids;
  const { predictions } = await clf.predictFiles(ids.map((id) => path.join(data, id)));
  await clf.dispose();
  let d = 0;
  predictions.forEach((p, i) => target.labels.forEach((l, j) => (d = Math.max(d, Math.abs(p.probabilities[l] - target.testProbabilities!.probs[i * 3 + j])))));
  assert.ok(d <= 1e-5, `reloaded --from bundle differs by ${d}`);

  // A second run reuses the cached features of the bundle backbone.
  const again = await trainClassifier({ data, classes: ['2', '3', '4'], ...split, from: target.bundle + '/from', out: path.join(tmp, 'target2') });
  assert.equal(again.features.forwardPasses, 0);
  await assert.rejects(trainClassifier({ data, from: path.join(tmp, 'nope'), out: path.join(tmp, 'x') }), /nope: no such bundle directory/);
  // A source bundle whose backbone weights are not the ones installed: not cached, cannot be rebuilt.
  const stale = path.join(tmp, 'stale');
  fs.cpSync(path.join(target.bundle, 'from'), stale, { recursive: true });
  const meta2 = JSON.parse(fs.readFileSync(path.join(stale, 'graft.json'), 'utf8'));
  meta2.backbone.weightsHash = 'f'.repeat(64);
  fs.writeFileSync(path.join(stale, 'graft.json'), JSON.stringify(meta2));
  await assert.rejects(trainClassifier({ data, from: stale, out: path.join(tmp, 'x') }), /stale: its network is not in the cache and cannot be rebuilt: .*trained on mobilenet_v2\.nsfwjs weights ffffffffffff/);
  await assert.rejects(trainClassifier({ data, from: target.bundle, backbone: 'resnet18', out: path.join(tmp, 'x') }), /either --from .* or --backbone/);
});
