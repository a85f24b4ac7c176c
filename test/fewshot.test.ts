/** graft fewshot: episode sampling, the CI, every method on separable features, the recipe end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eligibleClasses, meanCi95, rowsByClass, sampleEpisodes, gatherRows } from '../src/strategies/fewshot/episodes.js';
import { FEWSHOT_METHODS, predictEpisode } from '../src/strategies/fewshot/methods.js';
import { fewShotRecipe } from '../src/recipes/fewshot.js';
import { writeMnistImageFolder } from '../src/data/index.js';
import { tf, initTf } from '../src/engine/tfjs.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-fewshot-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

test('episodes: reproducible with a seed, N distinct classes, K + Q distinct images each, support ∩ query = ∅', () => {
  const y = Array.from({ length: 12 * 25 }, (_, i) => i % 12);
  const by = rowsByClass(y, 12);
  const elig = eligibleClasses(by, [], 5, 20);
  const spec = { ways: 5, shots: 5, queries: 15, episodes: 40, seed: 7 };
  const a = sampleEpisodes(by, elig, spec);
  assert.deepEqual(sampleEpisodes(by, elig, spec), a, 'same seed → same episodes');
  assert.notDeepEqual(sampleEpisodes(by, elig, { ...spec, seed: 8 }), a, 'another seed → other episodes');
  for (const ep of a) {
    assert.equal(new Set(ep.classes).size, 5);
    assert.equal(ep.support.length, 25);
    assert.equal(ep.query.length, 75);
    const s = new Set(ep.support);
    assert.equal(s.size, 25);
    assert.equal(new Set(ep.query).size, 75);
    assert.ok(ep.query.every((q) => !s.has(q)), 'no support image in the query set');
    ep.support.forEach((row, i) => assert.equal(y[row], ep.classes[ep.supportY[i]]));
    ep.query.forEach((row, i) => assert.equal(y[row], ep.classes[ep.queryY[i]]));
  }
  // Every class gets drawn across episodes.
  assert.equal(new Set(a.flatMap((e) => e.classes)).size, 12);
});

test('episodes: too few classes with enough images is an error naming them', () => {
  const by = [[0, 1, 2], [3, 4], [5, 6, 7]];
  assert.throws(() => eligibleClasses(by, ['cat', 'dog', 'owl'], 3, 3), /3-way episodes need 3 classes with ≥ 3 images each.*only 2.*"dog" has 2/);
});

test('95% CI = 1.96 · sample std / √n', () => {
  const r = meanCi95([0.5, 0.7, 0.6, 0.8]);
  assert.ok(Math.abs(r.mean - 0.65) < 1e-12);
  const std = Math.sqrt((0.15 ** 2 * 2 + 0.05 ** 2 * 2) / 3);
  assert.ok(Math.abs(r.std - std) < 1e-12);
  assert.ok(Math.abs(r.ci95 - (1.96 * std) / 2) < 1e-12);
  assert.deepEqual(meanCi95([0.3]), { mean: 0.3, ci95: 0, std: 0 });
});

test('every method beats chance by far on separable generated features; no tensors leak', async () => {
  await initTf();
  const r = rng(11);
  const k = 8;
  const dim = 24;
  const per = 25;
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: dim }, () => r() * 2 - 1));
  const n = k * per;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    // A shared offset (removed by the centring) + class centre + noise.
    for (let j = 0; j < dim; j++) x[i * dim + j] = 3 + centres[y[i]][j] + 0.35 * (r() * 2 - 1);
  }
  const by = rowsByClass(y, k);
  const eps = sampleEpisodes(by, eligibleClasses(by, [], 5, 16), { ways: 5, shots: 1, queries: 15, episodes: 12, seed: 1 });
  const before = tf.memory().numTensors;
  for (const m of FEWSHOT_METHODS) {
    const accs: number[] = [];
    for (const ep of eps) {
      const support = { x: gatherRows(x, dim, ep.support), y: ep.supportY, n: ep.support.length, dim };
      const pred = await predictEpisode(m, support, gatherRows(x, dim, ep.query), ep.query.length, 5, { finetuneSteps: 20 });
      accs.push(pred.filter((p, i) => p === ep.queryY[i]).length / pred.length);
    }
    const { mean } = meanCi95(accs);
    assert.ok(mean > 0.8, `${m}: 1-shot accuracy ${mean} (chance 0.2)`);
  }
  assert.equal(tf.memory().numTensors, before, 'tensor count flat over episodes');
});

test('fewshot recipe on digits: results for methods × shots, json + report, above chance', async () => {
  const data = path.join(tmp, 'digits');
  await writeMnistImageFolder(data, 12);
  const out = path.join(tmp, 'fs');
  const res = await fewShotRecipe({ data, out, ways: 3, shots: [1, 3], queries: 5, episodes: 8, methods: ['proto', 'knn', 'logreg', 'finetune'], finetuneSteps: 10 });
  assert.equal(res.results.length, 8);
  assert.equal(res.features.computed, 120);
  for (const r of res.results) {
    assert.equal(r.episodes, 8);
    assert.ok(r.ci95 >= 0 && r.mean >= 0 && r.mean <= 1);
  }
  const proto5 = res.results.find((r) => r.method === 'proto' && r.shots === 3)!;
  assert.ok(proto5.mean > 0.5, `proto 3-way 3-shot ${proto5.mean} (chance 0.33)`);
  const saved = JSON.parse(fs.readFileSync(res.json, 'utf8'));
  assert.equal(saved.perEpisode['knn/1'].length, 8);
  assert.ok(fs.readFileSync(res.report, 'utf8').includes('class="fewshot"'));
  assert.ok(fs.existsSync(path.join(out, 'fewshot-accuracy.png')));
  // Same seed → same numbers (episodes and every method are deterministic); features now cached.
  const again = await fewShotRecipe({ data, out, ways: 3, shots: [1, 3], queries: 5, episodes: 8, methods: ['proto', 'knn', 'logreg', 'finetune'], finetuneSteps: 10 });
  assert.equal(again.features.computed, 0);
  assert.deepEqual(again.results.map((r) => r.mean), res.results.map((r) => r.mean));
  await assert.rejects(fewShotRecipe({ data, out, ways: 3, shots: [20], queries: 5, episodes: 2 }), /need 3 classes with ≥ 25 images/);
});
