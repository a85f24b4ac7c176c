/** `graft compare`: transfer vs scratch over label budgets, with repeats, resume and kept points. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder, loadDataset } from '../src/data/index.js';
import { compareRecipe, subsample, checkBudgets, type CompareRun } from '../src/recipes/compare.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-compare-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const base = { data, classes: ['0', '1', '7'], valPercent: 20, testPercent: 25 };

before(async () => {
  await writeMnistImageFolder(data, 16);
});

test('subsample: at most `budget` rows per class, same seed → same rows, different seed → different rows', () => {
  const n = 40;
  const ex = { x: Float32Array.from({ length: n * 2 }, (_, i) => i), y: Int32Array.from({ length: n }, (_, i) => i % 4), n, dim: 2 };
  const a = subsample(ex, 3, 1);
  assert.equal(a.n, 12);
  for (let c = 0; c < 4; c++) assert.equal([...a.y].filter((y) => y === c).length, 3);
  for (let i = 0; i < a.n; i++) assert.equal(a.y[i], (a.x[2 * i] / 2) % 4, 'rows keep their labels');
  assert.deepEqual(subsample(ex, 3, 1).x, a.x);
  assert.notDeepEqual(subsample(ex, 3, 2).x, a.x);
  assert.equal(subsample(ex, 'all', 1), ex);
});

test('budgets larger than the data are a clear error naming the class', async () => {
  const ds = await loadDataset(data, base);
  assert.throws(() => checkBudgets(ds, [5, 500]), /budget 500 images per class exceeds the data: class "\d" has \d+ training images/);
  assert.throws(() => checkBudgets(ds, [0]), /not a positive integer/);
});

test('compare: every method × budget × seed scored on the test split; report + json; rerun skips finished runs', async () => {
  const out = path.join(tmp, 'cmp');
  const res = await compareRecipe({ ...base, out, budgets: [2, 'all'], repeats: 2 });
  assert.equal(res.runs.length, 3 * 2 * 2);
  assert.equal(res.points.length, 3 * 2);
  for (const p of res.points) {
    assert.ok(p.accuracy >= 0 && p.accuracy <= 1 && p.std >= 0 && p.seconds > 0 && p.repeats === 2, JSON.stringify(p));
  }
  const runsOf = (m: string, b: number | 'all') => res.runs.filter((r) => r.method === m && r.budget === b);
  for (const m of ['scratch', 'linear', 'finetune']) {
    assert.deepEqual(runsOf(m, 2).map((r) => r.images.train), [6, 6], `${m}: 2 images per class × 3 classes`);
    assert.ok(runsOf(m, 'all')[0].images.train > 6);
  }
  // The pretrained features separate 0/1/7 far better than chance with everything.
  assert.ok(res.points.find((p) => p.method === 'linear' && p.budget > 2)!.accuracy > 0.6);
  const html = fs.readFileSync(res.report, 'utf8');
  assert.ok(html.includes('<img') && fs.existsSync(path.join(out, 'compare-accuracy.png')));
  const saved = JSON.parse(fs.readFileSync(res.json, 'utf8')) as { runs: CompareRun[] };
  assert.equal(saved.runs.length, 12);

  const again = await compareRecipe({ ...base, out, budgets: [2, 'all'], repeats: 2 });
  assert.deepEqual(again.runs, res.runs, 'finished runs are reused, not retrained');
  assert.ok(again.seconds < res.seconds / 3, `rerun took ${again.seconds} s vs ${res.seconds} s`);
});

test('compare keeps every finished run when a later method fails', async () => {
  const out = path.join(tmp, 'cmp-fail');
  await assert.rejects(compareRecipe({ ...base, out, budgets: [2], repeats: 1, methods: ['scratch', 'finetune'], unfreeze: 99 }), /cannot unfreeze 99 blocks/);
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8')) as { runs: CompareRun[] };
  assert.deepEqual(saved.runs.map((r) => r.method), ['scratch']);
  assert.ok(fs.existsSync(path.join(out, 'report.html')), 'the report shows the finished runs');
});
