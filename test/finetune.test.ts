/** Fine-tuning the last blocks on cached cut activations (tail in tfjs-wasm, prefix in ORT). */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder, loadDataset } from '../src/data/index.js';
import { finetuneClassifier, resolveCut, blockOf, fitTailModel } from '../src/recipes/finetune.js';
import { openBackbone } from '../src/models/backbone.js';
import { extractFeatures } from '../src/features/extract.js';
import { Classifier } from '../src/recipes/predict.js';
import { exportOnnx } from '../src/recipes/export.js';
import { getBackbone } from '../src/models/registry.js';
import '../src/models/backbone.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/tfjs.js';
import { Trainer } from '../src/train/trainer.js';
import { buildTail, INPUT_CUT } from '../src/models/tail.js';
import { registerBackbone } from '../src/models/registry.js';
import { spawn } from 'node:child_process';

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
  assert.deepEqual(resolveCut(spec, { unfreeze: 'all' }), { cut: INPUT_CUT, blocks: 19 });
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
  assert.ok(!fs.existsSync(path.join(tmp, 'ft-a.ckpt')) && !fs.existsSync(path.join(tmp, 'ft-b.ckpt')), 'checkpoints are removed after a successful run');

  // A --checkpoint directory graft did not make is refused, and left alone.
  const mine = path.join(tmp, 'my-notes');
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, 'todo.txt'), 'keep me');
  await assert.rejects(finetuneClassifier({ ...opts, out: path.join(tmp, 'ft-c'), checkpoint: mine }), /my-notes: exists and is not a graft finetune checkpoint/);
  assert.equal(fs.readFileSync(path.join(mine, 'todo.txt'), 'utf8'), 'keep me');
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

/** A tiny conv net registered as a backbone: whole-network fine-tuning at 16×16 runs in seconds. */
function tinyNet(): tfl.LayersModel {
  let seed = 11;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const inp = tfl.input({ shape: [16, 16, 3], name: 'pixels_in' });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(), name: 'block1_conv' }).apply(inp) as Sym;
  x = tfl.layers.batchNormalization({ name: 'block1_bn' }).apply(x) as Sym;
  x = tfl.layers.reLU({ name: 'block1' }).apply(x) as Sym;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthwiseInitializer: init(), name: 'block2_dw' }).apply(x) as Sym;
  x = tfl.layers.conv2d({ filters: 12, kernelSize: 1, activation: 'relu', kernelInitializer: init(), name: 'block2' }).apply(x) as Sym;
  x = tfl.layers.globalAveragePooling2d({ name: 'features' }).apply(x) as Sym;
  const out = tfl.layers.dense({ units: 5, kernelInitializer: init(), name: 'fc' }).apply(x) as Sym;
  return tfl.model({ inputs: inp, outputs: out });
}

registerBackbone({
  name: 'tinynet.test',
  arch: 'tinynet',
  tag: 'test',
  preprocess: { size: [16, 16], resize: 'squash', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  featureLayer: 'features',
  featureDim: 12,
  cutPoints: ['block1', 'block2'],
  provenance: 'seeded random weights (test)',
  license: 'n/a',
  bundled: true,
  load: async () => ({ model: tinyNet(), weightsHash: 'tinynet-test-1' }),
  weightsHash: async () => 'tinynet-test-1',
  paramCount: async () => 0,
});

test('--unfreeze all: the whole network trains from streamed pixels, with an epoch estimate; the bundle reloads', async () => {
  const out = path.join(tmp, 'ft-all');
  const r = await finetuneClassifier({ data, classes: ['0', '1', '7'], valPercent: 20, testPercent: 20, backbone: 'tinynet.test', unfreeze: 'all', epochs: 4, freezeEpochs: 1, batchSize: 8, lr: 0.05, seed: 1, out });
  assert.equal(r.tail.cut, INPUT_CUT);
  assert.equal(r.backbone.layer, 'pixels_in', "the bundle names the network's input layer");
  assert.equal(r.backbone.dim, 16 * 16 * 3);
  assert.equal(r.features.computed + r.features.cached + r.features.forwardPasses, 0, 'nothing cached, no frozen prefix');
  assert.equal(r.history.length, 5);
  assert.ok(r.history[4].loss < r.history[0].loss, `training loss falls: ${r.history.map((h) => h.loss.toFixed(3)).join(' → ')}`);
  const est = r.estimate!;
  assert.equal(est.stepsPerEpoch, Math.ceil(r.data.train / 8));
  assert.ok(est.secondsPerStep > 0 && Math.abs(est.secondsPerEpoch - est.secondsPerStep * est.stepsPerEpoch) < 1e-9);

  const clf = await Classifier.load(out);
  // The first convolution trained too (not just the head): compare with the pretrained kernel.
  const pretrained = tinyNet();
  const k0 = pretrained.getLayer('block1_conv').getWeights()[0].dataSync();
  const k1 = clf.head.weights.find((w) => w.originalName === 'block1_conv/kernel')!.read().dataSync();
  assert.equal(k1.length, k0.length);
  assert.ok(k1.some((v, i) => v !== k0[i]), 'block1_conv changed');
  pretrained.dispose();
  const { predictions } = await clf.predictFiles(r.testProbabilities!.ids.map((id) => path.join(data, id)));
  await clf.dispose();
  const k = r.labels.length;
  let maxDiff = 0;
  predictions.forEach((p, i) => r.labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities[l] - r.testProbabilities!.probs[i * k + j])))));
  assert.equal(predictions.length, r.data.test);
  assert.ok(maxDiff <= 1e-5, `reloaded whole-network bundle differs by ${maxDiff}`);
  // …and exports as one ONNX classifier (checked by exportOnnx against graft's own network).
  const ex = await exportOnnx(out, path.join(tmp, 'ft-all.onnx'));
  assert.ok(ex.maxAbsDiff <= 1e-4 && ex.output.classes === 3, JSON.stringify(ex));
});

const root = path.resolve(import.meta.dirname, '..');

function graft(args: string[], onStderr?: (text: string, kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, GRAFT_CLI_MAIN: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('Ctrl-C mid-epoch, then --resume: continues in the unfrozen stage and ends exactly where a straight run does', async () => {
  // Batch size 1 and 8 unfrozen epochs: the run is long enough that a SIGINT sent after epoch 3
  // lands in a later epoch of the unfrozen stage, however fast the machine.
  const args = (out: string) => ['finetune', data, '--classes', '0,1,7', '--val-percent', '20', '--test-percent', '20', '--unfreeze', '1', '--freeze-epochs', '2', '--epochs', '8', '--patience', '20', '--batch-size', '1', '--seed', '5', '--out', out];
  const bundle = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'graft.json'), 'utf8'));
  const noTime = (h: { seconds: number }[]) => h.map(({ seconds: _s, ...rest }) => rest);
  const straightOut = path.join(tmp, 'cli-straight');
  const straight = await graft(args(straightOut));
  assert.equal(straight.code, 0, straight.stderr);
  const s = bundle(straightOut);
  assert.equal(s.training.history.length, 10);

  const out = path.join(tmp, 'cli-resumed');
  let killed = false;
  const cut = await graft(args(out), (text, kill) => {
    if (!killed && /epoch 3: /.test(text)) {
      killed = true; // the first unfrozen epoch is done; the signal lands during a later one
      kill();
    }
  });
  assert.equal(cut.code, 130, cut.stderr);
  const finished = Math.max(...[...cut.stderr.matchAll(/epoch (\d+): /g)].map((m) => Number(m[1])));
  assert.ok(finished >= 3 && finished < 10, `interrupted mid-run (last finished epoch ${finished})`);
  assert.ok(!fs.existsSync(out), 'no bundle from an interrupted run');
  const ckpt = `${out}.ckpt`;
  assert.ok(fs.existsSync(path.join(ckpt, 'stage1.ckpt')), 'the head-only stage is checkpointed');

  const other = await graft([...args(out), '--resume', '--epochs', '4', '--json']);
  assert.equal(other.code, 1);
  assert.match(JSON.parse(other.stdout).error, /cli-resumed\.ckpt: checkpoint of a different finetune run: epochs 4 now vs 8 in the checkpoint/);
  assert.ok(fs.existsSync(path.join(ckpt, 'stage1.ckpt')), 'a refused resume leaves the checkpoint alone');

  const resumed = await graft([...args(out), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming the unfrozen stage after its epoch ${finished - 2} `), 'continues in the unfrozen stage, after the epoch that finished');
  const retrained = [...resumed.stderr.matchAll(/epoch (\d+): /g)].map((m) => Number(m[1]));
  assert.ok(retrained.every((e) => e > finished), `epochs 1–${finished} are not trained again (trained: ${retrained})`);
  const r = bundle(out);
  assert.deepEqual(noTime(r.training.history), noTime(s.training.history), 'same history as the straight run');
  assert.deepEqual(fs.readFileSync(path.join(out, 'weights.bin')), fs.readFileSync(path.join(straightOut, 'weights.bin')), 'same weights as the straight run');
  assert.deepEqual(r.metrics, s.metrics);
  assert.ok(!fs.existsSync(ckpt), 'checkpoint removed after the run finished');
});

test('gradual unfreezing: the block-by-block stage trains only the last block; blockOf follows the cut points', async () => {
  const spec = getBackbone('mobilenet_v2');
  const { cut } = resolveCut(spec, { unfreeze: 2 }); // block_15_add → blocks 16 and the final conv
  const { model: full } = await spec.load();
  const seg = blockOf(full, spec, cut);
  assert.equal(seg.get('block_16_expand'), 1);
  assert.equal(seg.get('block_16_project_BN'), 1);
  assert.equal(seg.get('Conv_1'), 2);
  assert.equal(seg.has('block_15_expand'), false, 'layers before the cut are not in the tail');

  // Real cut activations of a few digits.
  const bb = await openBackbone('mobilenet_v2', { layer: cut });
  const ds = await loadDataset(data, { classes: ['0', '1'] });
  const m = await extractFeatures(ds.samples.slice(0, 12), bb, { store: null });
  await bb.dispose();
  const rows = { x: m.data, y: Int32Array.from(m.samples, (s) => s.label), n: m.n, dim: m.dim };
  const before = (name: string) => full.getLayer(name).getWeights()[0].dataSync().slice();
  const early = before('block_16_expand');
  const late = before('Conv_1');
  // epochs 0: only the head-only and the gradual "last block" stage run.
  const fitted = await fitTailModel(spec, full, cut, rows, { ...rows, n: 0, x: new Float32Array(0), y: new Int32Array(0) }, 2, { gradual: true, freezeEpochs: 1, epochs: 0, batchSize: 4, seed: 1 });
  assert.equal(fitted.history.length, 2, 'head-only epoch + one gradual epoch');
  const changed = (a: Float32Array, name: string) => before(name).some((v, i) => v !== a[i]);
  assert.equal(changed(early, 'block_16_expand'), false, 'block 16 stays frozen while only the last block trains');
  assert.equal(changed(late, 'Conv_1'), true, 'the last block (Conv_1) trains');
  fitted.model.dispose();
  full.dispose();
});

test('--augment 2: training reads cached flipped views (other weights than plain training), recorded in the bundle', async () => {
  const opts = { data, classes: ['0', '1', '7'], valPercent: 20, testPercent: 20, unfreeze: 1, epochs: 2, freezeEpochs: 1, batchSize: 16, seed: 3, checkpoint: false as const };
  const plain = await finetuneClassifier({ ...opts, out: path.join(tmp, 'aug-plain') });
  const aug = await finetuneClassifier({ ...opts, out: path.join(tmp, 'aug-2'), augment: 2 });
  const meta = JSON.parse(fs.readFileSync(path.join(aug.bundle, 'graft.json'), 'utf8'));
  assert.deepEqual(meta.training.augment, ['none', 'flip']);
  assert.equal(aug.history.length, plain.history.length);
  assert.notDeepEqual(fs.readFileSync(path.join(aug.bundle, 'weights.bin')), fs.readFileSync(path.join(plain.bundle, 'weights.bin')));
  await assert.rejects(finetuneClassifier({ ...opts, out: path.join(tmp, 'aug-bad'), augment: 2, unfreeze: 'all' }), /does not apply to --unfreeze all/);
});
