/**
 * Teachable Machine exports as a source: a TM-shaped model (Sequential[truncated CNN + pooling,
 * Sequential[Dense 100 relu, Dense softmax]] + TM's metadata.json, as TM's download holds) is a
 * `--backbone`, and graft's own `--teachable-machine` export is a `--from` whose features equal
 * the original bundle's.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { writeMnistImageFolder, loadDataset, decodeToRgb } from '../src/data/index.js';
import { trainClassifier } from '../src/recipes/train.js';
import { exportTeachableMachine } from '../src/recipes/export-teachable.js';
import { Classifier } from '../src/recipes/predict.js';
import { resolveBackbone } from '../src/models/resolve.js';
import { bundleSpec } from '../src/models/bundle-backbone.js';
import { openBackboneSpec } from '../src/models/backbone.js';
import { TM_MEAN_STD } from '../src/models/teachable.js';
import { serializeModel, deserializeModel } from '../src/bundle/bundle.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-teachable-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const split = { valPercent: 20, testPercent: 20 };

before(async () => {
  await writeMnistImageFolder(data, 12);
});

/** A small model nested the way Teachable Machine nests MobileNet and its head, saved with TM's files. */
async function writeTmShaped(dir: string): Promise<void> {
  await initTf();
  const x = tfl.input({ shape: [64, 64, 3] });
  let y = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name: 'Conv1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(x) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', name: 'block_1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(y) as tfl.SymbolicTensor;
  const truncated = tfl.model({ inputs: x, outputs: y, name: 'model1' });
  const base = tfl.sequential({ name: 'sequential_1', layers: [truncated, tfl.layers.globalAveragePooling2d({ name: 'gap' })] });
  const head = tfl.sequential({
    name: 'sequential_3',
    layers: [
      tfl.layers.dense({ inputShape: [16], units: 100, activation: 'relu', name: 'dense_Dense1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      tfl.layers.dense({ units: 2, activation: 'softmax', name: 'dense_Dense2', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
  const tm = tfl.sequential({ name: 'sequential_4', layers: [base, head] });
  const { json, weights } = await serializeModel(tm);
  tm.dispose();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.json'), json);
  fs.writeFileSync(path.join(dir, 'weights.bin'), weights);
  const metadata = { tfjsVersion: '1.3.1', tmVersion: '2.4.10', packageVersion: '0.8.4', packageName: '@teachablemachine/image', timeStamp: '2024-01-01T00:00:00.000Z', userMetadata: {}, modelName: 'tm-my-image-model', labels: ['cat', 'dog'], imageSize: 64 };
  fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify(metadata));
}

test('a Teachable Machine model is a --backbone: nested graph flattened, features at the head\'s hidden layer, TM\'s preprocessing', async () => {
  const dir = path.join(tmp, 'tm-shaped');
  await writeTmShaped(dir);
  const spec = await resolveBackbone(path.join(dir, 'model.json'));
  assert.equal(spec.featureLayer, 'dense_Dense1');
  assert.equal(spec.featureDim, 100);
  assert.deepEqual(spec.preprocess, { size: [64, 64], resize: 'center-crop', cropFraction: 1, mean: [TM_MEAN_STD, TM_MEAN_STD, TM_MEAN_STD], std: [TM_MEAN_STD, TM_MEAN_STD, TM_MEAN_STD] });
  assert.ok(spec.cutPoints.includes('Conv1'), `cut points of the flat graph: ${spec.cutPoints.join(', ')}`);
  assert.match(spec.provenance, /Teachable Machine model \(2 classes: cat, dog\)/);
  const tensors = tf.memory().numTensors;
  const { model } = await spec.load();
  model.dispose();
  assert.equal(tf.memory().numTensors, tensors, 'loading (and flattening) leaks no tensor');
  const { model: model2 } = await spec.load();
  // The flat graph computes what the nested one does: TM's probabilities on px/127 − 1.
  const px = tf.randomUniform([2, 64, 64, 3], 0, 255, 'int32', 7);
  const nested = await deserializeModel(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'), fs.readFileSync(path.join(dir, 'weights.bin')));
  const d = tf.tidy(() => {
    const t = tf.sub(tf.div(tf.cast(px, 'float32'), 127), 1);
    return tf.max(tf.abs(tf.sub(model2.predict(t) as tf.Tensor, nested.predict(t) as tf.Tensor))).dataSync()[0]!;
  });
  assert.ok(d <= 1e-6, `flattened vs nested differ by ${d}`);
  px.dispose();
  for (const w of new Set(nested.layers.flatMap((l) => l.weights))) w.dispose(); // tfjs' nested-container dispose leaves some
  model2.dispose();
  const r = await trainClassifier({ data, classes: ['0', '1'], ...split, backbone: path.join(dir, 'model.json'), out: path.join(tmp, 'on-tm') });
  assert.equal(r.backbone.dim, 100);
});

test('graft\'s --teachable-machine export is a --from source: same features as the bundle it came from; the new bundle is self-contained', async () => {
  const src = await trainClassifier({ data, classes: ['0', '1', '7'], ...split, out: path.join(tmp, 'src') });
  const tmDir = path.join(tmp, 'tm');
  await exportTeachableMachine(src.bundle, tmDir);
  // Features of the TM export (read back through its own metadata) vs the original bundle's network.
  const ds = await loadDataset(data, { classes: ['2', '3'] });
  const samples = ds.samples.slice(0, 4);
  const viaTm = await openBackboneSpec(await bundleSpec(tmDir), { engine: 'tfjs' });
  const viaBundle = await openBackboneSpec(await bundleSpec(src.bundle), { engine: 'tfjs' });
  assert.equal(viaTm.dim, 1280);
  const rgbTm = Buffer.concat(await Promise.all(samples.map((s) => decodeToRgb(s, viaTm.spec.preprocess))));
  const rgbB = Buffer.concat(await Promise.all(samples.map((s) => decodeToRgb(s, viaBundle.spec.preprocess))));
  assert.ok(rgbTm.equals(rgbB), 'TM\'s central-square resize equals the bundle\'s squash on square images');
  const [fa, fb] = [await viaTm.extract(new Uint8Array(rgbTm), 4), await viaBundle.extract(new Uint8Array(rgbB), 4)];
  await viaTm.dispose();
  await viaBundle.dispose();
  let d = 0;
  for (let i = 0; i < fa.length; i++) d = Math.max(d, Math.abs(fa[i]! - fb[i]!));
  assert.ok(d <= 1e-4, `features via the TM export vs the bundle differ by ${d}`);

  const target = await trainClassifier({ data, classes: ['2', '3', '4'], ...split, from: tmDir, out: path.join(tmp, 'from-tm') });
  assert.equal(target.backbone.dim, 1280);
  assert.ok((target.test?.accuracy ?? 0) > 0.5, `accuracy ${target.test?.accuracy}`);
  fs.rmSync(tmDir, { recursive: true });
  const clf = await Classifier.load(target.bundle);
  const ids = target.testProbabilities!.ids;
  const { predictions } = await clf.predictFiles(ids.map((id) => path.join(data, id)));
  await clf.dispose();
  let e = 0;
  predictions.forEach((p, i) => target.labels.forEach((l, j) => (e = Math.max(e, Math.abs(p.probabilities[l]! - target.testProbabilities!.probs[i * 3 + j]!)))));
  assert.ok(e <= 1e-5, `reloaded bundle (TM source deleted) differs by ${e}`);
});
