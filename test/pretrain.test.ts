/** graft pretrain: NT-Xent, the pretraining views, the probe, and the recipe end to end (SimCLR and rotation, --from, bad input). */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { tf, initTf } from '../src/engine/tfjs.js';
import { ntXent } from '../src/strategies/pretrain/ntxent.js';
import { rotationClasses } from '../src/strategies/pretrain/objectives.js';
import { drawSupport } from '../src/strategies/pretrain/probe.js';
import { colourView, rotateRgb } from '../src/data/augment.js';
import { decodeToRgb } from '../src/data/decode.js';
import { otherView } from '../src/train/augment-source.js';
import { centroidDense, denseArgmax, pretrainRecipe } from '../src/recipes/pretrain.js';
import { writeMnistImageFolder } from '../src/data/mnist-images.js';
import { loadDataset } from '../src/data/index.js';
import { Classifier } from '../src/recipes/predict.js';
import { trainClassifier } from '../src/recipes/train.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { rng } from '../src/util/rng.js';
import { clusterFolderName } from '../src/strategies/cluster/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-pretrain-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await initTf();
});

/** NT-Xent in float64, straight from the definition (Chen et al. 2020, eq. 1). */
function ntXentReference(z1: number[][], z2: number[][], tau: number): number {
  const z = [...z1, ...z2].map((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
  const m = z1.length;
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  let total = 0;
  for (let i = 0; i < 2 * m; i++) {
    const p = i < m ? i + m : i - m;
    let denom = 0;
    for (let k = 0; k < 2 * m; k++) if (k !== i) denom += Math.exp(dot(z[i]!, z[k]!) / tau);
    total += -Math.log(Math.exp(dot(z[i]!, z[p]!) / tau) / denom);
  }
  return total / (2 * m);
}

test('NT-Xent equals the definition, and its gradient equals finite differences', () => {
  const r = rng(7);
  const a = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => r() * 2 - 1));
  const b = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => r() * 2 - 1));
  const tau = 0.5;
  const { loss, top1 } = ntXent(tf.tensor2d(a), tf.tensor2d(b), tau);
  assert.ok(Math.abs(loss.dataSync()[0] - ntXentReference(a, b, tau)) < 1e-5, `${loss.dataSync()[0]} vs ${ntXentReference(a, b, tau)}`);
  assert.ok(top1.dataSync()[0] >= 0 && top1.dataSync()[0] <= 1);
  // Identical views of well-separated images: every positive is the nearest row.
  const e = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  assert.equal(ntXent(tf.tensor2d(e), tf.tensor2d(e), 0.1).top1.dataSync()[0], 1);
  const g = tf.grad((x: tf.Tensor) => ntXent(x as tf.Tensor2D, tf.tensor2d(b), tau).loss)(tf.tensor2d(a)).arraySync() as number[][];
  const h = 1e-3;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 4; j++) {
      const up = a.map((row) => [...row]);
      const dn = a.map((row) => [...row]);
      up[i]![j]! += h;
      dn[i]![j]! -= h;
      const fd = (ntXentReference(up, b, tau) - ntXentReference(dn, b, tau)) / (2 * h);
      assert.ok(Math.abs(g[i]![j]! - fd) < 1e-3, `d/dz1[${i}][${j}]: autodiff ${g[i]![j]} vs finite difference ${fd}`);
    }
  }
  // One image alone has no negatives: loss 0.
  assert.ok(Math.abs(ntXent(tf.tensor2d([a[0]!]), tf.tensor2d([b[0]!]), tau).loss.dataSync()[0]) < 1e-6);
});

test('rotation views turn the picture; grey and jitter views change colours deterministically', async () => {
  // 2×2 RGB: pixel values encode their position.
  const px = Uint8Array.from([10, 0, 0, 20, 0, 0, 30, 0, 0, 40, 0, 0]); // [[10, 20], [30, 40]] in red
  const red = (b: Uint8Array) => [b[0], b[3], b[6], b[9]];
  assert.deepEqual(red(rotateRgb(px, 2, 2, 1)), [20, 40, 10, 30], '90° counter-clockwise');
  assert.deepEqual(red(rotateRgb(px, 2, 2, 2)), [40, 30, 20, 10]);
  let back: Uint8Array = px;
  for (let q = 0; q < 4; q++) back = rotateRgb(back, 2, 2, 1);
  assert.deepEqual([...back], [...px], 'four quarter turns are the identity');
  assert.throws(() => rotateRgb(new Uint8Array(2 * 3 * 3), 2, 3, 1), /square/);
  const grey = Uint8Array.from([200, 100, 50]);
  colourView(grey, 'grey');
  assert.equal(grey[0], grey[1]);
  assert.equal(grey[1], grey[2]);
  // A decoded rotation view equals the plain view rotated.
  const file = path.join(tmp, 'arrow.png');
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let i = 0; i < 8; i++) raw[(i * 8 + 1) * 3] = 255; // a red column near the left edge
  await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(file);
  const sample = { id: file, label: 0, split: 'train' as const, kind: 'file' as const, load: async () => fs.readFileSync(file) };
  const pre = { size: [8, 8] as [number, number], resize: 'squash' as const, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const plain = await decodeToRgb(sample, pre);
  assert.deepEqual([...(await decodeToRgb(sample, pre, 'rot90'))], [...rotateRgb(plain, 8, 8, 1)]);
  const a = await decodeToRgb(sample, pre, 'jitter-a');
  const b = await decodeToRgb(sample, pre, 'jitter-b');
  assert.notDeepEqual([...a], [...plain]);
  assert.notDeepEqual([...a], [...b]);
  assert.deepEqual([...(await decodeToRgb(sample, pre, 'jitter-a'))], [...a], 'a view is a pure function of the image');
  assert.deepEqual(rotationClasses(['none', 'rot90', 'rot180', 'rot270']), [0, 1, 2, 3]);
  assert.throws(() => rotationClasses(['none', 'flip']), /not on flip/);
});

test("SimCLR's second view always differs from the epoch's pick; the probe draws the same support for the same seed", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const a = i % 8;
    const b = otherView(i, 3, a, 8, 1);
    assert.ok(b !== a && b >= 0 && b < 8);
    seen.add(b);
  }
  assert.equal(seen.size, 8, 'every view serves as a partner');
  const y = Int32Array.from({ length: 60 }, (_, i) => i % 3);
  const s = drawSupport(y, 3, 4, 5);
  assert.equal(s.length, 12);
  assert.deepEqual([...s], [...drawSupport(y, 3, 4, 5)]);
  assert.deepEqual([0, 1, 2].map((c) => [...s].filter((i) => y[i] === c).length), [4, 4, 4]);
  assert.throws(() => drawSupport(y, 3, 30, 0), /fewer than 30 shots/);
});

test('the centroid Dense layer ranks clusters as the distance to their means does', () => {
  const r = rng(3);
  const n = 50;
  const d = 5;
  const x = Float32Array.from({ length: n * d }, () => r() * 4);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  const { kernel, bias } = centroidDense(x, n, d, labels, 4);
  const means = [0, 1, 2, 3].map((c) => Array.from({ length: d }, (_, j) => {
    const rows = [...labels.keys()].filter((i) => labels[i] === c);
    return rows.reduce((s, i) => s + x[i * d + j]!, 0) / rows.length;
  }));
  const pred = denseArgmax(x, n, d, kernel, bias);
  for (let i = 0; i < n; i++) {
    const dist = means.map((m) => m.reduce((s, v, j) => s + (x[i * d + j]! - v) ** 2, 0));
    assert.equal(pred[i], dist.indexOf(Math.min(...dist)));
  }
});

const digits = path.join(tmp, 'digits');
const mnistReady = writeMnistImageFolder(digits, 8);

test('graft pretrain (SimCLR) adapts the tail without labels; the bundle predicts its clusters and serves --from', async () => {
  await mnistReady;
  const out = path.join(tmp, 'adapted');
  const res = await pretrainRecipe({ data: digits, out, unfreeze: 2, epochs: 2, batchSize: 32, views: ['none', 'crop-tl', 'crop-br', 'jitter-a'], k: 4, probe: [3], draws: 2, seed: 1, report: path.join(tmp, 'report') });
  assert.equal(res.images, 80);
  assert.equal(res.history.length, 2);
  assert.ok(res.history.every((h) => Number.isFinite(h.terms!.ntxent) && h.terms!.top1 >= 0), 'NT-Xent and contrastive top-1 are logged');
  assert.ok(res.history[1]!.terms!.ntxent < res.history[0]!.terms!.ntxent + 0.5, 'the contrastive loss does not blow up');
  assert.equal(res.features.computed, 80 * 4, 'every view of every image computed once');
  assert.equal(res.probes.length, 1);
  assert.equal(res.probes[0]!.before.perDraw.length, 2);
  assert.ok(res.clusters.nmiBefore !== null && res.clusters.nmiAfter !== null);
  const html = fs.readFileSync(res.report!, 'utf8');
  assert.match(html, /Linear probe before and after/);
  for (const png of ['pretrain-loss.png', 'pretrain-accuracy.png', 'pretrain-pca-before.png', 'pretrain-pca-after.png']) assert.ok(fs.statSync(path.join(tmp, 'report', png)).size > 1000, `${png} drawn`);
  assert.ok(!fs.existsSync(`${out}.ckpt`), 'the checkpoint is removed once the bundle is saved');
  // The saved bundle is the adapted network: predict gives the recipe's own nearest-centroid classes.
  const ds = await loadDataset(digits, { valPercent: 0, testPercent: 0 });
  const clf = await Classifier.load(out);
  const { predictions } = await clf.predictFiles(ds.samples.slice(0, 12).map((s) => path.join(digits, s.id)));
  await clf.dispose();
  const byFile = new Map(res.assignments.map((a) => [a.file, a.cluster]));
  let same = 0;
  for (const p of predictions) if (p.label === clusterFolderName(byFile.get(path.relative(digits, p.file))!, res.clusters.k)) same++;
  assert.equal(predictions.length, 12);
  assert.ok(same >= 11, `predict agrees with the recipe's assignments on ${same}/12 images`);
  // --from: the adapted network is a backbone; its features are not the pretrained ones.
  const fromRes = await trainClassifier({ data: digits, out: path.join(tmp, 'probe'), from: out, valPercent: 20, testPercent: 0 });
  assert.equal(fromRes.backbone.dim, 1280);
  assert.equal(fromRes.features.computed, 80, 'the adapted network computes its own features');
  assert.ok(fromRes.val!.accuracy > 0.2, `a head on the adapted features learns the digits (val ${fromRes.val!.accuracy})`);
  // finetune --from at the bundle's own cut: the adapted tail's layers belong to two graphs in the rebuilt network.
  const ft = await finetuneClassifier({ data: digits, out: path.join(tmp, 'ft-from'), from: out, unfreeze: 2, epochs: 1, freezeEpochs: 0, valPercent: 20, testPercent: 0, checkpoint: false });
  assert.equal(ft.tail.cut, 'block_15_add');
  assert.equal(ft.history.length, 1);
});

test('graft pretrain --method rotation predicts rotations; bad input gets one-line errors', async () => {
  await mnistReady;
  const res = await pretrainRecipe({ data: digits, out: path.join(tmp, 'rot'), method: 'rotation', unfreeze: 1, epochs: 8, lr: 3e-3, k: 3, probe: [], seed: 2, checkpoint: false });
  assert.ok(res.history.at(-1)!.terms!.rotationAccuracy > 0.45, `rotation accuracy above chance: ${res.history.map((h) => h.terms!.rotationAccuracy)}`);
  assert.deepEqual(res.views, ['none', 'rot90', 'rot180', 'rot270']);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  await assert.rejects(pretrainRecipe({ data: empty, out: path.join(tmp, 'x') }), /empty|no images|0 images/i);
  await assert.rejects(pretrainRecipe({ data: digits, out: path.join(digits, 'inside') }), /inside/);
  await assert.rejects(pretrainRecipe({ data: digits, out: path.join(tmp, 'x'), k: 1 }), /--k must be/);
  await assert.rejects(pretrainRecipe({ data: digits, out: path.join(tmp, 'x'), views: ['none'] }), /at least 2 views/);
  await assert.rejects(pretrainRecipe({ data: digits, out: path.join(tmp, 'x'), method: 'rotation', views: ['none', 'flip'] }), /rotation prediction trains on/);
  await assert.rejects(pretrainRecipe({ data: digits, out: path.join(tmp, 'x'), views: ['none', 'sideways'] }), /unknown augmentation view "sideways"/);
});

test('graft pretrain: a run interrupted after an epoch resumes from its checkpoint to the same weights', async () => {
  await mnistReady;
  const o = { data: digits, method: 'rotation' as const, unfreeze: 1, epochs: 3, lr: 3e-3, k: 3, probe: [], seed: 4 };
  const full = await pretrainRecipe({ ...o, out: path.join(tmp, 'rot-full') });
  const out = path.join(tmp, 'rot-cut');
  const stopper = { info: (m: string) => { if (/^\s*epoch 2:/.test(m)) throw new Error('interrupted'); }, warn: () => undefined, progress: () => ({ tick: () => undefined, done: () => undefined }) };
  await assert.rejects(pretrainRecipe({ ...o, out, reporter: stopper }), /interrupted/);
  assert.ok(fs.existsSync(`${out}.ckpt`), 'the checkpoint of epoch 1 is left behind');
  const resumed = await pretrainRecipe({ ...o, out, resume: true });
  assert.equal(resumed.resumedEpochs, 1);
  assert.equal(resumed.history.length, 3);
  assert.deepEqual(resumed.history.map((h) => h.loss), full.history.map((h) => h.loss), 'the same losses, epoch by epoch');
  assert.ok(fs.readFileSync(path.join(out, 'weights.bin')).equals(fs.readFileSync(path.join(tmp, 'rot-full', 'weights.bin'))), 'resumed = uninterrupted, bit for bit');
});
