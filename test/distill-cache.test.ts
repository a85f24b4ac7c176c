/** graft distill's teacher-logit cache: computed once per (teacher bundle, image, view), reused by a rerun, never by another teacher. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initTf } from '../src/engine/tfjs.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { loadDataset } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { smallCnn } from '../src/models/small-cnn.js';
import { distillRecipe, saveSmallCnnBundle } from '../src/recipes/distill.js';
import { Classifier } from '../src/recipes/predict.js';
import { bundleContentHash, cachedTeacherLogits, type Teacher } from '../src/strategies/distill/teacher-cache.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-distill-cache-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** An untrained small-CNN bundle (the cache does not care how good a teacher is). */
async function teacherBundle(dir: string, seed: number): Promise<string> {
  const m = smallCnn({ size: 28, numClasses: 10, widths: [8, 16], seed });
  await saveSmallCnnBundle(dir, m, { labels: classes, size: 28, widths: [8, 16], training: {} });
  m.dispose();
  return dir;
}

/** A Classifier whose probabilities() calls are counted (images asked for, per view). */
function spied(c: Classifier): { teacher: Teacher; calls: { view: string; n: number }[] } {
  const calls: { view: string; n: number }[] = [];
  const teacher: Teacher = {
    dir: c.dir,
    labels: c.labels,
    probabilities: (samples, o) => {
      calls.push({ view: o.view ?? 'none', n: samples.length });
      return c.probabilities(samples, o);
    },
  };
  return { teacher, calls };
}

test('teacher logits are computed once per view, read back by a second call, and never shared with another teacher', async () => {
  await initTf();
  const data = path.join(tmp, 'digits');
  await writeDomainFolder(data, 'mnist', { perClass: 6 });
  const samples: Sample[] = (await loadDataset(data)).samples;
  const root = path.join(tmp, 'cache');
  const views = ['none', 'crop-tl'];
  const a = await Classifier.load(await teacherBundle(path.join(tmp, 'tA'), 1));
  const b = await Classifier.load(await teacherBundle(path.join(tmp, 'tB'), 2));
  try {
    const sa = spied(a);
    const first = await cachedTeacherLogits(sa.teacher, samples, { views, root });
    assert.deepEqual(sa.calls, [{ view: 'none', n: samples.length }, { view: 'crop-tl', n: samples.length }], 'one teacher pass per view over every image');
    assert.equal(first.computed, 2 * samples.length);
    assert.equal(first.cached, 0);
    // The rows are the teacher's log-probabilities of that view.
    const direct = await a.probabilities(samples, { view: 'crop-tl', cache: false });
    const n = samples.length;
    for (let i = 0; i < n * 10; i++) assert.ok(Math.abs(first.logits[n * 10 + i] - Math.log(direct.probs[i])) < 1e-5);
    const plain = first.logits.subarray(0, n * 10);
    const cropped = first.logits.subarray(n * 10);
    assert.ok(plain.some((v, i) => Math.abs(v - cropped[i]) > 1e-4), 'the two views are different rows');
    // Second call: the teacher is not run at all; the same values come back.
    sa.calls.length = 0;
    const again = await cachedTeacherLogits(sa.teacher, samples, { views, root });
    assert.deepEqual(sa.calls, [], 'no teacher pass on a warm cache');
    assert.equal(again.cached, 2 * n);
    assert.equal(again.computed, 0);
    assert.deepEqual(Array.from(again.logits), Array.from(first.logits));
    // A new view of the same images: only that view is computed.
    const more = await cachedTeacherLogits(sa.teacher, samples, { views: ['none', 'crop-br'], root });
    assert.deepEqual(sa.calls, [{ view: 'crop-br', n }]);
    assert.equal(more.cached, n);
    // Another teacher (other weights): its own rows, computed by it.
    const sb = spied(b);
    const other = await cachedTeacherLogits(sb.teacher, samples, { views, root });
    assert.equal(sb.calls.length, 2, 'a different teacher does not reuse the cache');
    assert.equal(other.computed, 2 * n);
    assert.notEqual(other.teacherId, first.teacherId);
    assert.ok(other.logits.some((v, i) => Math.abs(v - first.logits[i]) > 1e-4));
  } finally {
    await a.dispose();
    await b.dispose();
  }
  // The identity is the bundle's content: an edited bundle is another teacher; a copy is the same one.
  const copy = path.join(tmp, 'tA-copy');
  fs.cpSync(path.join(tmp, 'tA'), copy, { recursive: true });
  assert.equal(bundleContentHash(copy), bundleContentHash(path.join(tmp, 'tA')));
  const weights = fs.readdirSync(copy).find((f) => f.endsWith('.bin'))!;
  const bytes = fs.readFileSync(path.join(copy, weights));
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(path.join(copy, weights), bytes);
  assert.notEqual(bundleContentHash(copy), bundleContentHash(path.join(tmp, 'tA')));
});

test('a second graft distill with the same teacher runs no teacher pass on its training images; another teacher does', async () => {
  await initTf();
  const data = path.join(tmp, 'd2');
  const more = path.join(tmp, 'more2');
  await writeDomainFolder(data, 'mnist', { perClass: 10 });
  await writeDomainFolder(more, 'mnist', { perClass: 4, offset: 100, seed: 3 });
  const tA = await teacherBundle(path.join(tmp, 'r-tA'), 5);
  const tB = await teacherBundle(path.join(tmp, 'r-tB'), 6);
  // Spy on every Classifier's probabilities(): count the training/transfer images (split 'train')
  // that a teacher is asked about (the test split is scored and timed separately, every run).
  const asked = new Map<string, number>();
  const orig = Classifier.prototype.probabilities;
  Classifier.prototype.probabilities = function (this: Classifier, samples, o) {
    const n = samples.filter((s) => s.split !== 'test').length;
    if (n) asked.set(path.resolve(this.dir), (asked.get(path.resolve(this.dir)) ?? 0) + n);
    return orig.call(this, samples, o);
  };
  try {
    const run = (teacher: string, out: string) => distillRecipe({ teacher, student: 'small-cnn', data, transfer: more, out: path.join(tmp, out), widths: [4, 8], epochs: 1, augment: ['none', 'crop-c'], seed: 1 });
    const r1 = await run(tA, 's1');
    const rows = r1.settings.labelled + r1.settings.unlabelled;
    assert.deepEqual(r1.settings.views, ['none', 'crop-c']);
    assert.equal(r1.teacherLogits.computed, 2 * rows, 'every training row in both views');
    assert.equal(asked.get(path.resolve(tA)), 2 * rows);
    asked.clear();
    const r2 = await run(tA, 's2');
    assert.equal(r2.teacherLogits.computed, 0);
    assert.equal(r2.teacherLogits.cached, 2 * rows);
    assert.equal(asked.get(path.resolve(tA)) ?? 0, 0, 'the teacher never saw a training image in the second run');
    const r3 = await run(tB, 's3');
    assert.equal(r3.teacherLogits.computed, 2 * rows, 'another teacher computes its own logits');
    assert.equal(asked.get(path.resolve(tB)), 2 * rows);
    // The students trained on those views are ordinary bundles.
    const c = await Classifier.load(r2.bundle);
    assert.equal((c.meta.training as { views: string[] }).views.join(','), 'none,crop-c');
    await c.dispose();
  } finally {
    Classifier.prototype.probabilities = orig;
  }
});

test('an ensemble teacher: log of the mean of its members’ probabilities, each member cached on its own; one member is exactly that member; mismatched classes refused', async () => {
  await initTf();
  const { ensembleTeacherLogits, TeacherEnsemble } = await import('../src/strategies/distill/ensemble.js');
  const data = path.join(tmp, 'digits-ens');
  await writeDomainFolder(data, 'mnist', { perClass: 3 });
  const samples: Sample[] = (await loadDataset(data)).samples;
  const root = path.join(tmp, 'cache-ens');
  const a = await Classifier.load(await teacherBundle(path.join(tmp, 'eA'), 11));
  const b = await Classifier.load(await teacherBundle(path.join(tmp, 'eB'), 12));
  try {
    const n = samples.length;
    const pa = (await a.probabilities(samples, { cache: false })).probs;
    const pb = (await b.probabilities(samples, { cache: false })).probs;
    const e = await ensembleTeacherLogits([a, b], samples, { root });
    assert.equal(e.computed, 2 * n);
    for (let i = 0; i < n * 10; i++) assert.ok(Math.abs(e.logits[i] - Math.log((pa[i] + pb[i]) / 2)) < 1e-5, `row value ${i}`);
    // A second ensemble with a reused member computes only the new member's rows.
    const sa = spied(a);
    const again = await ensembleTeacherLogits([sa.teacher, b], samples, { root });
    assert.deepEqual(sa.calls, []);
    assert.equal(again.cached, 2 * n);
    assert.deepEqual(Array.from(again.logits), Array.from(e.logits));
    const one = await ensembleTeacherLogits([a], samples, { root });
    assert.equal(one.teacherId, bundleContentHash(a.dir));
    assert.notEqual(e.teacherId, one.teacherId);
    // The ensemble as a classifier: the mean of the probabilities.
    const ens = new TeacherEnsemble([a, b]);
    const pe = (await ens.probabilities(samples, { cache: false })).probs;
    for (let i = 0; i < n * 10; i++) assert.ok(Math.abs(pe[i] - (pa[i] + pb[i]) / 2) < 1e-6);
    const other: Teacher = { dir: 'other', labels: [...classes].reverse(), probabilities: (s, o) => a.probabilities(s, o) };
    assert.throws(() => new TeacherEnsemble([a, other]), /other: its classes .* differ/);
  } finally {
    await a.dispose();
    await b.dispose();
  }
});
