/** Prototype heads: CL2N layer, train --head prototype, add-class (new and existing classes), reload, export. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder, loadDataset, decodeToTensorData } from '../src/data/index.js';
import { trainClassifier } from '../src/recipes/train.js';
import { addClass } from '../src/recipes/prototype.js';
import { Classifier } from '../src/recipes/predict.js';
import { evaluateBundle } from '../src/recipes/evaluate.js';
import { exportOnnx } from '../src/recipes/export.js';
import { loadBundle, readBundleFile, type PrototypeHeadSpec } from '../src/bundle/bundle.js';
import { OrtSession } from '../src/engine/ort.js';
import { centreL2, centreL2Head } from '../src/train/centre-l2.js';
import { prototypes, prototypeScores } from '../src/strategies/fewshot/prototype.js';
import { decodeNpy } from '../src/util/npy.js';
import { tf, initTf } from '../src/engine/tfjs.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-proto-'));
const mnist = path.join(tmp, 'mnist');
const data = path.join(tmp, 'digits'); // 0, 1, 7: 10 images each; 3: 5 images
const three = path.join(tmp, 'three'); // the same 5 images of 3, as a flat folder
const moreZeros = path.join(tmp, 'more-zeros');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const noSplit = { valPercent: 0, testPercent: 0 };

before(async () => {
  await writeMnistImageFolder(mnist, 14);
  const files = (c: string) => fs.readdirSync(path.join(mnist, c)).sort();
  for (const c of ['0', '1', '7']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (const f of files(c).slice(0, 10)) fs.copyFileSync(path.join(mnist, c, f), path.join(data, c, f));
  }
  fs.mkdirSync(path.join(data, '3'));
  fs.mkdirSync(three);
  for (const f of files('3').slice(0, 5)) {
    fs.copyFileSync(path.join(mnist, '3', f), path.join(data, '3', f));
    fs.copyFileSync(path.join(mnist, '3', f), path.join(three, `x${f}`));
  }
  fs.mkdirSync(moreZeros);
  for (const f of files('0').slice(10)) fs.copyFileSync(path.join(mnist, '0', f), path.join(moreZeros, f));
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

test('CL2N layer = the float64 reference; prototype head = nearest class mean', async () => {
  await initTf();
  const r = rng(3);
  const n = 7;
  const d = 5;
  const x = Float32Array.from({ length: n * d }, () => r() * 4 - 1);
  const y = [0, 1, 2, 0, 1, 2, 2];
  const p = prototypes(x, y, n, d, 3);
  const { prototypeDense } = await import('../src/strategies/fewshot/prototype.js');
  const { kernel, bias } = prototypeDense(p, 7);
  const head = centreL2Head(p.mean, kernel, bias);
  const logits = tf.tidy(() => head.predict(tf.tensor2d(x, [n, d])) as tf.Tensor).dataSync() as Float32Array;
  const norm = head.getLayer('centre_l2');
  const z = tf.tidy(() => (norm.apply(tf.tensor2d(x, [n, d])) as tf.Tensor).dataSync() as Float32Array);
  assert.ok(maxDiff(z, centreL2(x, n, d, p.mean)) < 1e-6);
  // logits = 7·(2 x̂·p − ‖p‖²) = 7·(1 − ‖x̂ − p‖²): the nearest prototype wins.
  const s = prototypeScores(p, x, n);
  assert.ok(maxDiff(logits, Float32Array.from(s, (v) => 7 * v)) < 1e-5);
  for (let i = 0; i < n; i++) {
    const dist = [0, 1, 2].map((c) => {
      let q = 0;
      for (let j = 0; j < d; j++) q += (z[i * d + j] - p.protos[c * d + j]) ** 2;
      return q;
    });
    assert.equal(s.subarray(i * 3, i * 3 + 3).indexOf(Math.max(...s.subarray(i * 3, i * 3 + 3))), dist.indexOf(Math.min(...dist)));
  }
  head.dispose();
});

async function headWeights(dir: string) {
  const { meta, head } = await loadBundle(dir);
  const w = head.getWeights().map((t) => t.dataSync() as Float32Array);
  head.dispose();
  const support = decodeNpy(readBundleFile(dir, meta, (meta.head as PrototypeHeadSpec).support)).data as Float32Array;
  return { meta, mean: w[0], kernel: w[1], bias: w[2], support };
}

test('add-class of a 5-image class = training with it from the start (prototypes, support, predictions)', async () => {
  const base = path.join(tmp, 'base');
  const r = await trainClassifier({ data, out: base, classes: ['0', '1', '7'], head: 'prototype', ...noSplit });
  assert.equal(r.head.kind, 'prototype');
  await assert.rejects(addClass(base, path.join(tmp, 'nope')), /no such directory/);
  const added = await addClass(base, three, { name: '3' });
  assert.deepEqual(added.added, [{ label: '3', images: 5 }]);
  assert.deepEqual(added.labels, ['0', '1', '7', '3']);
  const full = await trainClassifier({ data, out: path.join(tmp, 'full'), classes: ['0', '1', '7', '3'], head: 'prototype', ...noSplit });
  const a = await headWeights(base);
  const b = await headWeights(full.bundle);
  assert.deepEqual((a.meta.head as PrototypeHeadSpec).counts, [10, 10, 10, 5]);
  assert.deepEqual((a.meta.head as PrototypeHeadSpec).counts, (b.meta.head as PrototypeHeadSpec).counts);
  assert.equal(a.meta.labels.join(), b.meta.labels.join());
  assert.ok(maxDiff(a.mean, b.mean) < 1e-6, 'same centring mean');
  assert.ok(maxDiff(a.kernel, b.kernel) < 1e-5, `same prototypes (kernel Δ ${maxDiff(a.kernel, b.kernel)})`);
  assert.ok(maxDiff(a.bias, b.bias) < 1e-5);
  assert.equal(a.support.length, b.support.length);
  const ca = await Classifier.load(base);
  const cb = await Classifier.load(full.bundle);
  const ds = await loadDataset(data, noSplit);
  const pa = (await ca.probabilities(ds.samples)).probs;
  const pb = (await cb.probabilities(ds.samples)).probs;
  await ca.dispose();
  await cb.dispose();
  assert.ok(maxDiff(pa, pb) < 1e-5, `same probabilities (Δ ${maxDiff(pa, pb)})`);
  const ev = await evaluateBundle(base, data, {});
  assert.ok(ev.accuracy > 0.9, `prototype head on its own support images: ${ev.accuracy}`);
  assert.ok(ev.perClass['3'].recall > 0.5, 'the added class is recognised');
});

test('add-class with more images of a known class updates its prototype = training with them', async () => {
  const base = path.join(tmp, 'base2');
  await trainClassifier({ data, out: base, classes: ['0', '1', '7'], head: 'prototype', ...noSplit });
  const res = await addClass(base, moreZeros, { name: '0' });
  assert.deepEqual(res.added, []);
  assert.deepEqual(res.updated, [{ label: '0', images: 4, before: 10 }]);
  assert.deepEqual(res.counts, { '0': 14, '1': 10, '7': 10 });
  const all = path.join(tmp, 'digits14');
  for (const c of ['0', '1', '7']) fs.cpSync(path.join(data, c), path.join(all, c), { recursive: true });
  for (const f of fs.readdirSync(moreZeros)) fs.copyFileSync(path.join(moreZeros, f), path.join(all, '0', `m${f}`));
  const full = await trainClassifier({ data: all, out: path.join(tmp, 'full14'), head: 'prototype', ...noSplit });
  const a = await headWeights(base);
  const b = await headWeights(full.bundle);
  assert.ok(maxDiff(a.kernel, b.kernel) < 1e-5 && maxDiff(a.mean, b.mean) < 1e-6);
});

test('a prototype bundle reloads with the same probabilities, and exports to ONNX (≤1e-4)', async () => {
  const r = await trainClassifier({ data: mnist, classes: ['2', '5', '8'], out: path.join(tmp, 'p258'), head: 'prototype', valPercent: 25, testPercent: 25 });
  const spec = r.head as PrototypeHeadSpec;
  assert.ok(spec.temperature >= 1 && spec.temperature <= 100);
  assert.ok(r.test!.accuracy > 0.6, `test accuracy ${r.test!.accuracy}`);
  const clf = await Classifier.load(r.bundle);
  const files = r.testProbabilities!.ids.map((id) => path.join(mnist, id));
  const { predictions } = await clf.predictFiles(files);
  const k = 3;
  let d = 0;
  predictions.forEach((p, i) => r.labels.forEach((l, j) => (d = Math.max(d, Math.abs(p.probabilities[l] - r.testProbabilities!.probs[i * k + j])))));
  assert.ok(d <= 1e-5, `reloaded probabilities differ by ${d}`);
  const ex = await exportOnnx(r.bundle, path.join(tmp, 'p.onnx'));
  const ds = await loadDataset(mnist, { classes: ['2', '5', '8'] });
  const samples = ds.samples.slice(0, 4);
  const { probs } = await clf.probabilities(samples, { cache: false });
  const [h, w] = clf.meta.preprocess.size;
  const x = new Float32Array(samples.length * h * w * 3);
  for (let i = 0; i < samples.length; i++) x.set(await decodeToTensorData(samples[i], clf.meta.preprocess), i * h * w * 3);
  await clf.dispose();
  const session = await OrtSession.create(ex.file);
  const { data: out } = await session.run(x, [samples.length, h, w, 3]);
  await session.release();
  assert.ok(maxDiff(out, probs) <= 1e-4, `ONNX vs graft ${maxDiff(out, probs)}`);
});

test('add-class refuses a bundle without a prototype head, and --name with several classes', async () => {
  const lin = path.join(tmp, 'lin');
  await trainClassifier({ data, out: lin, classes: ['0', '1'], ...noSplit });
  await assert.rejects(addClass(lin, three), /has a linear head; add-class needs a prototype head/);
  await assert.rejects(addClass(path.join(tmp, 'base'), data, { name: 'x' }), /--name: .* holds 4 classes/);
});
