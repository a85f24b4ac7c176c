/**
 * `graft export --tfjs`: one TF.js LayersModel (pixels in, probabilities out), loaded by the real
 * client — plain @tensorflow/tfjs in a separate Node process with nothing of graft, over HTTP from
 * 127.0.0.1 — and compared with graft predict on real digit images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeMnistImageFolder, loadDataset, decodeToRgb } from '../src/data/index.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { trainClassifier } from '../src/recipes/train.js';
import { exportTfjs, TFJS_TOLERANCE } from '../src/recipes/export-tfjs.js';
import { Classifier } from '../src/recipes/predict.js';
import { tf } from '../src/engine/tfjs.js';
import { serveDirs, type Served } from './clients/serve.js';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-export-tfjs-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const classes = ['0', '1', '7'];
const split = { classes, valPercent: 20, testPercent: 20 };
const CLIENT = path.join(import.meta.dirname, 'clients', 'tfjs-node.cjs');
let server: Served;
let linRun: Promise<string> | undefined;
/** The linear-head bundle on the bundled MobileNetV2 (trained once, shared by the tests). */
const linBundle = () => (linRun ??= trainClassifier({ data, ...split, out: path.join(tmp, 'lin') }).then((r) => r.bundle));

before(async () => {
  await writeMnistImageFolder(data, 12);
  server = await serveDirs({ '/': tmp });
});
after(async () => server.close());

/** graft predict's probabilities and the plain-TF.js client's, on the same 8 real digit images. */
async function clientVsGraft(bundle: string, exportDir: string): Promise<{ diff: number; metadata: Record<string, unknown>; backend: string }> {
  const clf = await Classifier.load(bundle);
  const ds = await loadDataset(data, split);
  const samples = ds.samples.filter((_, i) => i % 4 === 0).slice(0, 8);
  const { predictions } = await clf.predictFiles(samples.map((s) => path.join(data, s.id)));
  const pixels = Buffer.concat(await Promise.all(samples.map((s) => decodeToRgb(s, clf.meta.preprocess))));
  await clf.dispose();
  const pxFile = path.join(tmp, `${path.basename(exportDir)}.rgb`);
  fs.writeFileSync(pxFile, pixels);
  const url = `${server.url}/${path.relative(tmp, exportDir)}/model.json`;
  const { stdout } = await run(process.execPath, [CLIENT, url, pxFile, String(samples.length)], { maxBuffer: 1 << 24 });
  const out = JSON.parse(stdout) as { probabilities: number[][]; metadata: Record<string, unknown>; backend: string };
  assert.equal(out.probabilities.length, samples.length);
  let diff = 0;
  predictions.forEach((p, i) => classes.forEach((l, j) => (diff = Math.max(diff, Math.abs(p.probabilities[l]! - out.probabilities[i]![j]!)))));
  return { diff, metadata: out.metadata, backend: out.backend };
}

test('export --tfjs: linear-head and fine-tuned bundles load in plain @tensorflow/tfjs and match graft predict ≤1e-4', async (t) => {
  const lin = { bundle: await linBundle() };
  const tensors = tf.memory().numTensors;
  const r = await exportTfjs(lin.bundle, path.join(tmp, 'lin-web'));
  assert.equal(tf.memory().numTensors, tensors, 'every tensor of the export is disposed');
  assert.ok(r.maxAbsDiff <= 1e-4, `probe ${r.maxAbsDiff}`);
  assert.deepEqual(r.input.shape, ['N', 224, 224, 3]);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(r.dir, 'labels.json'), 'utf8')), classes);
  assert.ok(r.files.some((f) => f.name === 'group1-shard3of3.bin'), 'weights in 4 MiB shards');
  const a = await clientVsGraft(lin.bundle, r.dir);
  t.diagnostic(`linear head: probe ${r.maxAbsDiff.toExponential(2)}, client vs graft predict ${a.diff.toExponential(2)} (${a.backend}), ${(r.bytes / 1e6).toFixed(2)} MB`);
  assert.ok(a.diff <= 1e-4, `linear head: plain TF.js vs graft predict differ by ${a.diff}`);
  assert.deepEqual(a.metadata.labels, classes);
  assert.deepEqual(a.metadata.imageSize, [224, 224]);
  assert.ok(server.requests.includes('/lin-web/group1-shard1of3.bin'), 'the client fetched the shards over HTTP');

  const ft = await finetuneClassifier({ data, ...split, out: path.join(tmp, 'ft'), unfreeze: 1, epochs: 1, freezeEpochs: 1, batchSize: 16, seed: 1 });
  const r2 = await exportTfjs(ft.bundle, path.join(tmp, 'ft-web'));
  const b = await clientVsGraft(ft.bundle, r2.dir);
  t.diagnostic(`fine-tuned (--unfreeze 1): probe ${r2.maxAbsDiff.toExponential(2)}, client vs graft predict ${b.diff.toExponential(2)}, ${(r2.bytes / 1e6).toFixed(2)} MB`);
  assert.ok(b.diff <= 1e-4, `fine-tuned: plain TF.js vs graft predict differ by ${b.diff}`);
});

test('export --tfjs: a layer stock TF.js lacks is refused, naming the layer and the client; nothing is written', async () => {
  const proto = await trainClassifier({ data, ...split, head: 'prototype', out: path.join(tmp, 'proto') });
  const out = path.join(tmp, 'proto-web');
  await assert.rejects(exportTfjs(proto.bundle, out), /layer "[^"]+" is GraftCentreL2, a layer graft defines itself; @tensorflow\/tfjs \(tf\.loadLayersModel\) cannot load it/);
  assert.equal(fs.existsSync(out), false);
  await assert.rejects(exportTfjs(path.join(tmp, 'nope'), out), /nope: no such bundle directory/);
});

test('export --tfjs --quantize: uint8 and float16 weights load in plain TF.js within the documented tolerance; the accuracy change is measured', async (t) => {
  const bundle = await linBundle();
  const float = fs.readdirSync(path.join(tmp, 'lin-web')).filter((f) => f.endsWith('.bin')).reduce((n, f) => n + fs.statSync(path.join(tmp, 'lin-web', f)).size, 0);
  for (const q of ['uint8', 'float16'] as const) {
    const r = await exportTfjs(bundle, path.join(tmp, `lin-${q}`), { quantize: q });
    assert.equal(r.quantize, q);
    const mj = JSON.parse(fs.readFileSync(path.join(r.dir, 'model.json'), 'utf8')) as { weightsManifest: { weights: { quantization?: { dtype: string } }[] }[] };
    const quantised = mj.weightsManifest[0]!.weights.filter((w) => w.quantization?.dtype === q).length;
    assert.ok(quantised > 50, `${quantised} tensors carry ${q} quantisation in the manifest`);
    const shards = r.files.filter((f) => f.name.endsWith('.bin')).reduce((n, f) => n + f.bytes, 0);
    assert.ok(shards < float * (q === 'uint8' ? 0.45 : 0.55), `${q}: ${shards} bytes vs float32 ${float}`);
    // Measured on the bundle's own test split (its training data is still there).
    assert.ok(r.quantization && r.quantization.images > 0, 'accuracy change measured');
    assert.match(r.quantization.data, /digits \(test split\)/);
    const c = await clientVsGraft(bundle, r.dir);
    t.diagnostic(
      `${q}: ${(r.bytes / 1e6).toFixed(2)} MB (float32 ${(float / 1e6).toFixed(2)} MB), plain TF.js vs graft predict ${c.diff.toExponential(2)} (tolerance ${TFJS_TOLERANCE[q]}), ` +
        `accuracy ${r.quantization.float32.toFixed(3)} → ${r.quantization.quantized.toFixed(3)} on ${r.quantization.images} test images, top-1 agreement ${r.quantization.agreement}, kept float32: ${r.keptFloat32?.join(', ') || 'none'}`,
    );
    assert.ok(c.diff <= TFJS_TOLERANCE[q], `${q}: plain TF.js vs graft predict differ by ${c.diff}`);
  }
});
