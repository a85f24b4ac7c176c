/** LR range test and the SVG→PNG plots it draws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initTf } from '../src/engine/tfjs.js';
import { buildHead } from '../src/train/heads.js';
import { lrFind } from '../src/train/lr-find.js';
import { linePlotSvg, writeSvgPng } from '../src/report/plot.js';
import { rng } from '../src/util/rng.js';
import { lrFindRecipe } from '../src/recipes/lr-find.js';
import { writeMnistImageFolder } from '../src/data/index.js';

function blobs(n: number, k: number, dim: number): { x: Float32Array; y: Int32Array; n: number; dim: number } {
  const r = rng(5);
  const centers = Array.from({ length: k }, () => Array.from({ length: dim }, () => (r() - 0.5) * 6));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centers[c][j] + (r() - 0.5);
    y[i] = r() < 0.3 ? Math.floor(r() * k) : c; // label noise: not separable, so a huge LR must blow up

  }
  return { x, y, n, dim };
}

test('lrFind sweeps exponentially, stops on divergence, restores the weights, suggests a sane LR', async () => {
  await initTf();
  const head = buildHead({ kind: 'mlp', inputDim: 8, numClasses: 3, hidden: [16], dropout: 0 }, 1);
  const before = head.getWeights().map((w) => Array.from(w.dataSync()));
  const r = await lrFind(head, blobs(300, 3, 8), { optimizer: 'adam', batchSize: 16, steps: 120, startLr: 1e-5, endLr: 100, seed: 1 });
  assert.deepEqual(head.getWeights().map((w) => Array.from(w.dataSync())), before, 'weights restored');
  assert.ok(r.lrs.length > 20 && r.lrs.length <= 120);
  for (let i = 1; i < r.lrs.length; i++) assert.ok(r.lrs[i] > r.lrs[i - 1], 'learning rate grows');
  assert.ok(Math.abs(r.lrs[1] / r.lrs[0] - Math.pow(1e7, 1 / 119)) < 1e-9, 'exponential sweep');
  assert.equal(r.diverged, true, 'Adam at lr 100 diverges');
  assert.ok(r.suggested > 1e-4 && r.suggested < 10, `suggested ${r.suggested}`);
  const iMin = r.losses.indexOf(Math.min(...r.losses));
  assert.ok(r.losses[iMin] < r.losses[0] * 0.8, 'the loss falls somewhere in the sweep');
  head.dispose();
});

test('plots render to PNG', async () => {
  const svg = linePlotSvg(
    [
      { name: 'train', xs: [1e-4, 1e-3, 1e-2, 1e-1], ys: [2, 1.5, 0.7, 3] },
      { name: 'val <b>', xs: [1e-4, 1e-2], ys: [2.1, 0.9] },
    ],
    { title: 'loss & lr', xlabel: 'lr', ylabel: 'loss', logX: true, markers: [{ x: 1e-2, label: 'pick' }] },
  );
  assert.match(svg, /^<svg/);
  assert.match(svg, /val &lt;b&gt;/, 'labels are escaped');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'graft-plot-')), 'p.png');
  await writeSvgPng(svg, file);
  const meta = await sharp(file).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 640);
  const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  let nonWhite = 0;
  for (let i = 0; i < data.length; i += meta.channels!) if (data[i] < 200) nonWhite++;
  assert.ok(nonWhite > 500, 'something was drawn');
});

test('lr-find --unfreeze 1: the range test runs on the fine-tuning network over real digits', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-lrf-'));
  process.env.GRAFT_HOME = path.join(tmp, 'home');
  const data = path.join(tmp, 'digits');
  await writeMnistImageFolder(data, 10);
  const plot = path.join(tmp, 'lr.png');
  const r = await lrFindRecipe({ data, classes: ['0', '1', '7'], unfreeze: 1, steps: 40, batchSize: 8, plot });
  assert.ok(r.lrs.length >= 10 && r.lrs.length === r.losses.length);
  assert.ok(r.suggested > r.lrs[0] && r.suggested < r.lrs[r.lrs.length - 1], `suggested ${r.suggested}`);
  assert.equal((await sharp(plot).metadata()).format, 'png');
  await assert.rejects(lrFindRecipe({ data, unfreeze: 99 }), /cannot unfreeze 99 blocks/);
});
