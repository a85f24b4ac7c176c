/** graft distill into registry-backbone students: a head on frozen MobileNetV2 features, and its last block fine-tuned (--unfreeze 1); both ordinary bundles. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initTf } from '../src/engine/tfjs.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { readBundleMeta } from '../src/bundle/bundle.js';
import { trainClassifier } from '../src/recipes/train.js';
import { distillRecipe } from '../src/recipes/distill.js';
import { evaluateBundle } from '../src/recipes/evaluate.js';
import { exportOnnx } from '../src/recipes/export.js';
import { Classifier } from '../src/recipes/predict.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-distill-bb-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'digits');
const more = path.join(tmp, 'more');
const teacher = path.join(tmp, 'teacher');

test.before(async () => {
  await initTf();
  await writeDomainFolder(data, 'mnist', { perClass: 12 });
  await writeDomainFolder(more, 'mnist', { perClass: 6, offset: 100, seed: 3 });
  // Teacher: graft's default (MobileNetV2 features + linear head) on the labelled digits.
  await trainClassifier({ data, out: teacher });
});

interface Hist { terms?: Record<string, number> }

test('--student mobilenet_v2: a linear head on frozen features, distilled beside its label-only baseline', async () => {
  const out = path.join(tmp, 'head');
  const r = await distillRecipe({ teacher, student: 'mobilenet_v2', data, transfer: more, out, epochs: 8, seed: 2 });
  assert.match(r.settings.student, /mobilenet_v2.* features \+ linear head/);
  assert.equal(r.settings.unlabelled, 60);
  const meta = readBundleMeta(out);
  assert.equal(meta.head.kind, 'linear');
  assert.equal(meta.training.recipe, 'distill');
  assert.equal(meta.training.unlabelled, 60);
  const hist = meta.training.history as Hist[];
  assert.ok(hist.at(-1)!.terms!.kl < hist[0].terms!.kl, `the KL term fell: ${hist[0].terms!.kl} → ${hist.at(-1)!.terms!.kl}`);
  assert.equal(readBundleMeta(`${out}-label-only`).training.alpha, 0);
  assert.equal(r.student.params, r.baseline.params);
  // eval accepts it and agrees with the figure measured in the run.
  const ev = await evaluateBundle(out, data);
  assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1);
  assert.ok(r.student.accuracy >= 0 && r.teacher.accuracy > 0.3, `teacher ${r.teacher.accuracy}`);
});

test('--student mobilenet_v2 --unfreeze 1: the last block fine-tuned on cached cut activations with the KD loss; predict/eval/export take the bundle', async () => {
  const out = path.join(tmp, 'tail');
  const r = await distillRecipe({ teacher, student: 'mobilenet_v2', unfreeze: 1, data, transfer: more, out, epochs: 2, freezeEpochs: 1, seed: 2 });
  assert.match(r.settings.student, /last 1 blocks fine-tuned/);
  const meta = readBundleMeta(out);
  assert.equal(meta.head.kind, 'tail');
  assert.equal(meta.training.unfreeze, 1);
  const hist = meta.training.history as Hist[];
  assert.equal(hist.length, 3, 'head-only epoch + 2 unfrozen epochs');
  assert.ok(hist.every((h) => h.terms && Number.isFinite(h.terms.kl)), 'every stage trained on the KD objective');
  assert.ok(hist.at(-1)!.terms!.kl < hist[0].terms!.kl, `the KL term fell: ${hist[0].terms!.kl} → ${hist.at(-1)!.terms!.kl}`);
  const base = readBundleMeta(`${out}-label-only`);
  assert.equal(base.head.kind, 'tail');
  assert.ok((base.training.history as Hist[]).every((h) => !h.terms), 'the baseline trained on plain cross-entropy');
  // The teacher's logits were cached by the first test: only this run's new rows... none (same images).
  assert.equal(r.teacherLogits.computed, 0, 'same teacher, same images: no teacher pass');
  const c = await Classifier.load(out);
  const files = fs.readdirSync(path.join(data, '3')).slice(0, 2).map((f) => path.join(data, '3', f));
  const { predictions } = await c.predictFiles(files);
  await c.dispose();
  assert.equal(predictions.length, 2);
  const ev = await evaluateBundle(out, data);
  assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1);
  const ex = await exportOnnx(out, path.join(tmp, 'tail.onnx'));
  assert.ok(fs.statSync(ex.file).size > 1e5);
  await assert.rejects(distillRecipe({ teacher, student: 'mobilenet_v2', data, out: path.join(tmp, 'x'), augment: 2 }), /augmented views need/);
  await assert.rejects(distillRecipe({ teacher, student: 'small-cnn', unfreeze: 1, data, out: path.join(tmp, 'y') }), /registry-backbone student/);
});
