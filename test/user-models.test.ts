/**
 * The user's own model files as backbones: TF.js layers model.json (path and URL) and ONNX
 * classifiers (torchvision exports, NCHW), through openBackbone, `graft train`, bundles and zoo.
 *
 * test/py/make_onnx_fixture.py (Debian python3-torch / torchvision 0.14) exports resnet18 with
 * random weights to ONNX and writes reference features/logits computed in float64; graft must
 * match them within 1e-4 (max abs diff / max(1, max |reference|)). The TF.js model is a small conv
 * net written by tfjs-layers itself (two weight shards) and served from 127.0.0.1 for the URL case.
 *
 * Run: node --import tsx --test test/user-models.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { layersModelToOnnx } from '../src/convert/tfjs-to-onnx.js';
import { decodeModel } from '../src/convert/onnx-decode.js';
import { openBackbone } from '../src/models/backbone.js';
import { resolveBackbone } from '../src/models/resolve.js';
import { withOverrides } from '../src/models/file-ref.js';
import { zooEntry } from '../src/recipes/zoo.js';
import { Classifier } from '../src/recipes/predict.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { writeMnistImageFolder } from '../src/data/index.js';
import { decodeNpy } from '../src/util/npy.js';
import { PYTHON, skipUnless } from './extras.js';

const TOL = 1e-4;
const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-user-models-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

const skipOnnx = skipUnless('torch', 'torchvision');

const tfjsDir = path.join(tmp, 'tfjs');
const tfjsFile = path.join(tfjsDir, 'model.json');
const onnxDir = path.join(tmp, 'onnx');
const data = path.join(tmp, 'digits');
let model: tfl.LayersModel;
let server: http.Server;
let baseUrl: string;

const npy = (f: string) => decodeNpy(fs.readFileSync(f), f).data as Float32Array;

/** max |a − ref| / max(1, max |ref|) */
function relErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(a.length, ref.length, 'output sizes differ');
  let d = 0;
  let m = 1;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - ref[i]!));
    m = Math.max(m, Math.abs(ref[i]!));
  }
  return d / m;
}

/** A small conv net (conv-bn-relu-pool-conv-gap-dense-dropout-dense), random weights, seed fixed. */
function buildNet(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const inp = tfl.input({ shape: [32, 32, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c1', kernelInitializer: init(1) }).apply(inp) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1', betaInitializer: tfl.initializers.randomNormal({ seed: 2, stddev: 0.2 }), movingMeanInitializer: tfl.initializers.randomNormal({ seed: 3, stddev: 0.1 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ name: 'r1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'p1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', name: 'c2', kernelInitializer: init(4), biasInitializer: tfl.initializers.constant({ value: 0.05 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 12, activation: 'relu', name: 'penult', kernelInitializer: init(5), biasInitializer: tfl.initializers.constant({ value: 0.1 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.3, name: 'drop' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, activation: 'softmax', name: 'probs', kernelInitializer: init(6) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: inp, outputs: out });
}

/** Save with tfjs's own save path, the weights split into two shards next to model.json. */
async function saveTfjs(m: tfl.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const shards = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      const w = new Uint8Array(a.weightData as ArrayBuffer);
      const half = Math.floor(w.length / 2);
      fs.writeFileSync(path.join(dir, shards[0]!), w.subarray(0, half));
      fs.writeFileSync(path.join(dir, shards[1]!), w.subarray(half));
      const json = { format: 'layers-model', generatedBy: a.generatedBy, modelTopology: a.modelTopology, weightsManifest: [{ paths: shards, weights: a.weightSpecs }] };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
}

/** The tfjs model's own output at `layer` for an NHWC batch, flattened. */
function tfjsOutput(m: tfl.LayersModel, layer: string, x: Float32Array, n: number): Float32Array {
  const sub = tfl.model({ inputs: m.inputs, outputs: m.getLayer(layer).output as tfl.SymbolicTensor });
  const y = tf.tidy(() => tf.reshape(sub.predict(tf.tensor4d(x, [n, 32, 32, 3])) as tf.Tensor, [-1]));
  const out = y.dataSync() as Float32Array;
  y.dispose();
  return out;
}

function randomBatch(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 32 * 32 * 3 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
}

async function extractAll(name: string, x: Float32Array, n: number, opts: Parameters<typeof openBackbone>[1] = {}): Promise<Float32Array> {
  const b = await openBackbone(name, { threads: 1, ...opts });
  try {
    return await b.extract(x, n);
  } finally {
    await b.dispose();
  }
}

function graft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, GRAFT_CLI_MAIN: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  await initTf();
  model = buildNet();
  await saveTfjs(model, tfjsDir);
  await writeMnistImageFolder(data, 8);
  server = http.createServer((req, res) => {
    const file = path.join(tmp, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    if (!file.startsWith(tmp) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  server?.close();
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('TF.js layers model.json', () => {
  it('describes the model: penultimate features, cut points, layers, [0,1] preprocessing', async () => {
    const spec = await resolveBackbone(tfjsFile);
    assert.equal(spec.name, tfjsFile);
    assert.equal(spec.featureLayer, 'penult'); // input of the last Dense, past the Dropout
    assert.equal(spec.featureDim, 12);
    assert.deepEqual(spec.cutPoints, ['r1', 'p1', 'c2', 'gap']); // never between a conv and its BN/ReLU
    assert.deepEqual(spec.preprocess, { size: [32, 32], resize: 'squash', mean: [0, 0, 0], std: [1, 1, 1] });
    assert.equal(await spec.paramCount(), model.countParams());
    const z = await zooEntry(tfjsFile);
    assert.deepEqual(z.input, [32, 32]);
    assert.equal(z.weights, 'file');
    assert.ok(z.layers?.includes('c2'));
  });

  it('features on ORT and tfjs equal the model’s own penultimate output; --layer takes any layer', async () => {
    const x = randomBatch(3, 7);
    const want = tfjsOutput(model, 'penult', x, 3);
    assert.ok(want.some((v) => v > 0), 'degenerate features');
    const ort = await extractAll(tfjsFile, x, 3);
    const tfjs = await extractAll(tfjsFile, x, 3, { engine: 'tfjs' });
    assert.ok(relErr(ort, want) < 1e-5, `ort ${relErr(ort, want)}`);
    assert.ok(relErr(tfjs, want) < 1e-6, `tfjs ${relErr(tfjs, want)}`);
    assert.ok(relErr(await extractAll(tfjsFile, x, 3, { layer: 'c2' }), tfjsOutput(model, 'c2', x, 3)) < 1e-5); // 4-D, NHWC order
    assert.ok(relErr(await extractAll(tfjsFile, x, 3, { layer: 'logits' }), tfjsOutput(model, 'probs', x, 3)) < 1e-5);
  });

  it('loads from an http URL into $GRAFT_HOME and then works offline; unreachable URLs say where to put the files', async () => {
    const url = `${baseUrl}/tfjs/model.json`;
    const spec = await resolveBackbone(url);
    assert.equal(spec.tag, 'url');
    assert.equal(await spec.weightsHash(), await (await resolveBackbone(tfjsFile)).weightsHash()); // same bytes, same hash
    const cached = fs.readdirSync(path.join(process.env.GRAFT_HOME!, 'models'));
    assert.equal(cached.length, 1);
    assert.deepEqual(fs.readdirSync(path.join(process.env.GRAFT_HOME!, 'models', cached[0]!)).sort(), ['group1-shard1of2.bin', 'group1-shard2of2.bin', 'model.json']);
    const x = randomBatch(2, 11);
    assert.ok(relErr(await extractAll(url, x, 2), tfjsOutput(model, 'penult', x, 2)) < 1e-5);

    // A server that is gone: the cached copy serves the same URL; an uncached one fails clearly.
    const gone = http.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as { port: number }).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const dead = `http://127.0.0.1:${port}/m/model.json`;
    await assert.rejects(resolveBackbone(dead), (e: Error) => {
      assert.match(e.message, new RegExp(`cannot download ${dead.replace(/[.]/g, '\\.')}`));
      assert.match(e.message, /offline/);
      assert.match(e.message, new RegExp(`place it at:\\s+${path.join(process.env.GRAFT_HOME!, 'models').replace(/[.]/g, '\\.')}.*model\\.json`));
      return true;
    });
    // A shard the server does not have: the error names that shard's URL.
    fs.mkdirSync(path.join(tmp, 'half'));
    fs.copyFileSync(tfjsFile, path.join(tmp, 'half', 'model.json'));
    await assert.rejects(resolveBackbone(`${baseUrl}/half/model.json`), /cannot download http:\/\/127\.0\.0\.1:\d+\/half\/group1-shard1of2\.bin: the server answered HTTP 404/);
  });

  it('preprocessing overrides live in the name (so bundles keep them); bad ones are clear errors', async () => {
    const named = withOverrides(tfjsFile, { mean: '0.5', std: '0.5,0.5,0.5', resize: 'center-crop' })!;
    assert.equal(named, `${tfjsFile}#resize=center-crop&mean=0.5,0.5,0.5&std=0.5,0.5,0.5`);
    const spec = await resolveBackbone(named);
    assert.equal(spec.name, named);
    assert.deepEqual(spec.preprocess, { size: [32, 32], resize: 'center-crop', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    assert.throws(() => withOverrides('mobilenet_v2', { mean: '0.5' }), /--mean applies to model-file backbones.*mobilenet_v2 has fixed preprocessing/);
    await assert.rejects(resolveBackbone(`${tfjsFile}#size=48`), /model\.json: the model takes 32×32 inputs, not 48×48/);
    await assert.rejects(resolveBackbone(`${tfjsFile}#gamma=2`), /unknown preprocessing option "gamma=2"/);
  });
});

describe('ONNX classifiers', { skip: skipOnnx }, () => {
  before(() => {
    fs.mkdirSync(onnxDir, { recursive: true });
    const r = spawnSync(PYTHON, [path.join(root, 'test/py/make_onnx_fixture.py'), onnxDir, '64'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `fixture script failed:\n${r.stderr}`);
  });

  it('torchvision resnet18 exported NCHW: penultimate features, logits and a 4-D layer match PyTorch (float64) within 1e-4', async () => {
    const file = path.join(onnxDir, 'resnet18.onnx');
    const x = npy(path.join(onnxDir, 'input.npy'));
    const spec = await resolveBackbone(file);
    assert.equal(spec.featureDim, 512);
    assert.deepEqual(spec.preprocess.size, [64, 64]);
    assert.deepEqual(spec.preprocess.mean, [0.485, 0.456, 0.406]);
    const f = await extractAll(file, x, 2);
    const l = await extractAll(file, x, 2, { layer: 'logits' });
    // layer4's output (input of the global pool): NCHW in the graph, NHWC-flattened rows from graft.
    const layer4 = decodeModel(fs.readFileSync(file)).graph.node.find((n) => n.opType === 'GlobalAveragePool')!.input[0]!;
    const l4 = await extractAll(file, x, 2, { layer: layer4 });
    const errs = { features: relErr(f, npy(path.join(onnxDir, 'features.npy'))), logits: relErr(l, npy(path.join(onnxDir, 'logits.npy'))), layer4: relErr(l4, npy(path.join(onnxDir, 'layer4.npy'))) };
    process.stderr.write(`# resnet18.onnx vs torch float64: ${JSON.stringify(errs)}\n`);
    for (const [k, e] of Object.entries(errs)) assert.ok(e <= TOL, `${k}: ${e}`);
  });

  it('a trailing Softmax is skipped for features; a dynamic batch works; frozen only', async () => {
    const file = path.join(onnxDir, 'resnet18_softmax.onnx');
    const x = npy(path.join(onnxDir, 'input.npy'));
    assert.ok(relErr(await extractAll(file, x, 2), npy(path.join(onnxDir, 'features.npy'))) <= TOL);
    const probs = await extractAll(file, x, 2, { layer: 'logits' });
    const ref = npy(path.join(onnxDir, 'logits.npy'));
    for (let r = 0; r < 2; r++) {
      const row = ref.subarray(r * 1000, (r + 1) * 1000);
      const mx = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      assert.ok(relErr(probs.subarray(r * 1000, (r + 1) * 1000), Array.from(row, (v) => Math.exp(v - mx) / z)) <= TOL);
    }
    await assert.rejects(openBackbone(file, { engine: 'tfjs' }), /ONNX backbones are frozen: run on --engine ort; fine-tuning needs a tfjs or registry backbone/);
    await assert.rejects(resolveBackbone(file, { trainable: true }), /ONNX backbones are frozen/);
    await assert.rejects(finetuneClassifier({ data, out: path.join(tmp, 'ft-onnx'), backbone: file }), /resnet18_softmax\.onnx: ONNX backbones are frozen/);
    const z = await zooEntry(file);
    assert.equal(z.featureDim, 512);
    assert.deepEqual(z.cutPoints, []);
    assert.ok(z.layers!.length > 40 && z.layers!.includes(z.featureLayer));
  });

  it('a graph hard-wired to batch 1 (reshape(1, -1)) is fed image by image', async () => {
    const file = path.join(onnxDir, 'tiny_batch1.onnx');
    const spec = await resolveBackbone(file);
    assert.equal((await spec.onnx!(spec.featureLayer)).maxBatch, 1);
    const b = await openBackbone(file, { threads: 1 });
    try {
      const f = await b.extract(npy(path.join(onnxDir, 'input.npy')), 2);
      assert.equal(b.forwardCount, 2);
      assert.ok(relErr(f, npy(path.join(onnxDir, 'tiny_features.npy'))) <= TOL);
    } finally {
      await b.dispose();
    }
  });

  it("graft's own converter output (NHWC already) works as an ONNX backbone too", async () => {
    const file = path.join(tmp, 'converted.onnx');
    fs.writeFileSync(file, layersModelToOnnx(model, { output: 'probs' }));
    const x = randomBatch(2, 3);
    const spec = await resolveBackbone(file);
    assert.equal(spec.featureDim, 12);
    assert.ok(relErr(await extractAll(`${file}#size=32`, x, 2), tfjsOutput(model, 'penult', x, 2)) < 1e-5);
  });

  it('bad files: a truncated .onnx and an unknown --layer are clear errors', async () => {
    const bad = path.join(tmp, 'truncated.onnx');
    const bytes = fs.readFileSync(path.join(onnxDir, 'resnet18.onnx'));
    fs.writeFileSync(bad, bytes.subarray(0, 1_000_000));
    await assert.rejects(resolveBackbone(bad), new RegExp(`${bad.replace(/[.]/g, '\\.')}: not a valid ONNX model, the file is truncated or corrupt`));
    await assert.rejects(openBackbone(path.join(onnxDir, 'resnet18.onnx'), { layer: 'no_such_node' }), /"no_such_node" is not a layer of .*resnet18\.onnx/);
  });
});

describe('bad TF.js files', () => {
  it('a missing shard, a truncated shard and an unknown --layer name the file and the problem', async () => {
    const dir = path.join(tmp, 'broken');
    fs.cpSync(tfjsDir, dir, { recursive: true });
    await assert.rejects(openBackbone(path.join(dir, 'model.json'), { layer: 'nope' }), /"nope" is not a layer of .*broken\/model\.json/);
    const shard = path.join(dir, 'group1-shard2of2.bin');
    fs.truncateSync(shard, 10);
    await assert.rejects(resolveBackbone(path.join(dir, 'model.json')), /broken\/model\.json: the weight shards hold \d+ bytes but the manifest describes \d+/);
    fs.rmSync(shard);
    await assert.rejects(resolveBackbone(path.join(dir, 'model.json')), new RegExp(`broken/model\\.json: weights shard "group1-shard2of2\\.bin" is missing \\(expected at ${shard.replace(/[.]/g, '\\.')}\\)`));
    fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": ');
    await assert.rejects(resolveBackbone(path.join(dir, 'model.json')), /broken\/model\.json: not valid JSON/);
  });
});

describe('training on a model file', () => {
  it('`graft train --backbone ./model.json` end to end; the bundle reloads, and refuses changed weights', async () => {
    const dir = path.join(tmp, 'mine');
    fs.cpSync(tfjsDir, dir, { recursive: true });
    const file = path.join(dir, 'model.json');
    const out = path.join(tmp, 'bundle');
    const r = await graft(['train', data, '--backbone', file, '--mean', '0.5', '--std', '0.5', '--classes', '1,7', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.backbone.name, `${file}#mean=0.5,0.5,0.5&std=0.5,0.5,0.5`);
    assert.equal(res.backbone.dim, 12);
    assert.equal(res.data.used, 16);
    const clf = await Classifier.load(out, { threads: 1 });
    try {
      assert.deepEqual(clf.backbone.spec.preprocess.mean, [0.5, 0.5, 0.5]);
      const img = path.join(data, '7', fs.readdirSync(path.join(data, '7'))[0]!);
      const { predictions } = await clf.predictFiles([img]);
      assert.equal(predictions.length, 1);
      assert.ok(['1', '7'].includes(predictions[0]!.label));
    } finally {
      await clf.dispose();
    }
    const shard = path.join(dir, 'group1-shard1of2.bin');
    const b = fs.readFileSync(shard);
    b[0] = b[0]! ^ 0xff;
    fs.writeFileSync(shard, b);
    await assert.rejects(Classifier.load(out), /trained on .*model\.json.* weights [0-9a-f]{12}, but the installed weights are [0-9a-f]{12}/);
  });

  it('finetune runs on a TF.js model file from one of its cut points', async () => {
    const res = await finetuneClassifier({ data, out: path.join(tmp, 'ft'), backbone: tfjsFile, classes: ['1', '7'], cut: 'c2', freezeEpochs: 1, epochs: 1, batchSize: 8 });
    assert.equal(res.tail.cut, 'c2');
    assert.ok(res.tail.trainableParams > 0);
    assert.equal(res.history.length, 2);
  });
});
