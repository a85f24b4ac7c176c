/** graft zeroshot end to end on rendered shapes × colours, its errors, and the ZSL / GZSL scores. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeShapesDataset } from '../src/data/shapes.js';
import { zeroShotRecipe } from '../src/recipes/zeroshot.js';
import { evaluateBundle } from '../src/recipes/evaluate.js';
import { Classifier } from '../src/recipes/predict.js';
import { trainClassifier } from '../src/recipes/train.js';
import { exportOnnx } from '../src/recipes/export.js';
import { parseClassCsv, readClassEmbeddings, seenIndex } from '../src/strategies/zeroshot/attributes.js';
import { calibrateStacking, perClassMeanAccuracy, harmonicMean } from '../src/strategies/zeroshot/gzsl.js';
import type { ZslEvalResult } from '../src/recipes/zsl-eval.js';
import { encodeNpy } from '../src/util/npy.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-zsl-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'shapes');
let csv = '';

before(async () => {
  csv = (await writeShapesDataset(data, { train: 8, test: 4, unseenImages: 6 })).classesCsv;
});

test('attribute tables: NaN / missing cells, duplicate rows, one column, identical rows, a folder class with no row: one-line errors naming them', () => {
  const ok = 'class,a,b\nx,1,0\ny,0,1\nz,1,1\n';
  assert.deepEqual(parseClassCsv(ok, 't.csv').names, ['x', 'y', 'z']);
  assert.deepEqual(parseClassCsv('x,1,0\ny,0,1\n', 't.csv').columns, ['attr1', 'attr2'], 'no header');
  const err = (text: string, re: RegExp) => assert.throws(() => parseClassCsv(text, 't.csv'), (e: Error) => re.test(e.message) && !e.message.includes('\n'));
  err('class,a,b\nx,1,0\ny,NaN,1\n', /t\.csv: line 3 \(class "y"\): a is "NaN", not a number/);
  err('class,a,b\nx,1,0\ny,,1\n', /t\.csv: line 3 \(class "y"\): a is missing/);
  err('class,a,b\nx,1,0\ny,1\n', /line 3 \(class "y"\): 1 attribute values, expected 2/);
  err('class,a,b\nx,1,0\ny,0,1\nx,1,1\n', /line 4: class "x" is listed twice \(also line 2\)/);
  err('class\nx\ny\n', /t\.csv: has one column \(class names only\)/);
  err('class,a,b\nx,1,0\ny,1,0\n', /classes "x" \(line 2\) and "y" \(line 3\) have identical attributes/);
  const t = parseClassCsv(ok, 't.csv');
  assert.throws(() => seenIndex(t, ['x', 'w'], '/photos'), /^Error: \/photos: class "w" has no row in t\.csv$/);
});

test('class embeddings: rows vs names, NaN rows named', () => {
  const npy = path.join(tmp, 'emb.npy');
  const names = path.join(tmp, 'names.txt');
  fs.writeFileSync(npy, encodeNpy(Float32Array.of(1, 0, 0, 1, 1, 1), [3, 2]));
  fs.writeFileSync(names, 'x\ny\n');
  assert.throws(() => readClassEmbeddings(npy, names), /names\.txt: 2 class names for 3 rows/);
  fs.writeFileSync(names, 'x\ny\nz\n');
  assert.equal(readClassEmbeddings(npy, names).dim, 2);
  fs.writeFileSync(npy, encodeNpy(Float32Array.of(1, 0, NaN, 1, 1, 1), [3, 2]));
  assert.throws(() => readClassEmbeddings(npy, names), /emb\.npy: row 2 \(class "y"\): dimension 1 is NaN/);
});

test('per-class mean accuracy, H, calibrated stacking', () => {
  assert.equal(perClassMeanAccuracy([0, 0, 0, 1], [0, 0, 0, 0 + 1]), 1);
  assert.equal(perClassMeanAccuracy([0, 1, 1, 1], [0, 0, 0, 1]), (1 / 3 + 1) / 2);
  assert.equal(harmonicMean(0.5, 1), 2 / 3);
  // Two classes, 0 seen, 1 unseen; seen scores are inflated by 1: the best γ removes that bias.
  const scores = Float32Array.of(2, 0, 1.5, 0.2, 1.2, 0.8, 1.1, 0.7);
  const set = { scores, k: 2, seen: [true, false], seenRows: { idx: [0, 1], y: [0, 0] }, unseenRows: { idx: [2, 3], y: [1, 1] } };
  const cal = calibrateStacking([set]);
  assert.equal(cal.h, 1);
  assert.ok(cal.gamma > 0.4 && cal.gamma < 1.3, `γ ${cal.gamma}`);
  assert.equal(calibrateStacking([set]).curve.find((c) => c.gamma === 0)!.u, 0, 'uncalibrated: every unseen row goes to the seen class');
});

test('zeroshot end to end: held-out combinations far above chance, predict answers an unseen class, GZSL S/U/H, errors', async () => {
  const out = path.join(tmp, 'zsl');
  const res = await zeroShotRecipe({ seen: path.join(data, 'seen'), classTable: csv, out });
  assert.equal(res.seen.length, 12);
  assert.deepEqual(res.unseen, ['circle-red', 'square-green', 'triangle-blue', 'cross-yellow']);
  assert.equal(res.data.images, 12 * 8, 'seen/test is kept out of the fit');
  assert.ok('gamma' in res.regularisers && 'lambda' in res.regularisers);
  assert.ok(fs.existsSync(res.report) && fs.existsSync(path.join(out, 'zeroshot-calibration.png')));
  const ev = (await evaluateBundle(out, path.join(data, 'unseen'), { gzsl: path.join(data, 'seen', 'test') })) as ZslEvalResult;
  assert.deepEqual(ev.labels, ['circle-red', 'cross-yellow', 'square-green', 'triangle-blue'], 'scored among the folder\'s classes');
  assert.equal(ev.chance, 0.25);
  assert.ok(ev.perClassMeanAccuracy > 0.6, `ZSL accuracy ${ev.perClassMeanAccuracy} (chance 0.25)`);
  assert.ok(ev.h! > 0.4 && ev.seen! > 0.4 && ev.unseen! > 0.3, `GZSL S ${ev.seen} U ${ev.unseen} H ${ev.h}`);
  assert.ok(Math.abs(ev.h! - harmonicMean(ev.seen!, ev.unseen!)) < 1e-12);
  // predict over all 16 classes can answer a combination it never saw.
  const clf = await Classifier.load(out);
  const files = fs.readdirSync(path.join(data, 'unseen', 'circle-red')).map((f) => path.join(data, 'unseen', 'circle-red', f));
  const { predictions } = await clf.predictFiles(files);
  await clf.dispose();
  assert.equal(Object.keys(predictions[0].probabilities).length, 16);
  assert.ok(predictions.filter((p) => p.label === 'circle-red').length >= 3, predictions.map((p) => p.label).join());
  // export --onnx carries the zero-shot head (its own probe checks ONNX vs graft ≤ 1e-4).
  const ex = await exportOnnx(out, path.join(tmp, 'zsl.onnx'));
  assert.equal(ex.output.classes, 16);
  assert.ok(ex.maxAbsDiff <= 1e-4);
  await assert.rejects(evaluateBundle(out, path.join(data, 'seen', 'test'), { gzsl: path.join(data, 'seen', 'test') }), /--gzsl scores this folder as the unseen classes, but .* had training images/);
  // A seen folder class with no row, and --gzsl on an ordinary bundle.
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n').filter((l) => !l.startsWith('circle-blue'));
  const partial = path.join(tmp, 'partial.csv');
  fs.writeFileSync(partial, lines.join('\n'));
  await assert.rejects(zeroShotRecipe({ seen: path.join(data, 'seen'), classTable: partial, out: path.join(tmp, 'bad') }), /seen: class "circle-blue" has no row in .*partial\.csv/);
  assert.ok(!fs.existsSync(path.join(tmp, 'bad')));
  const lin = path.join(tmp, 'lin');
  await trainClassifier({ data: path.join(data, 'seen', 'train'), out: lin, classes: ['circle-blue', 'cross-red'], valPercent: 0, testPercent: 0 });
  await assert.rejects(evaluateBundle(lin, path.join(data, 'unseen'), { gzsl: path.join(data, 'seen', 'test') }), /--gzsl needs a zero-shot bundle/);
});

test('zeroshot with class embeddings (SAE): rotated attribute vectors as embeddings work the same way', async () => {
  const t = parseClassCsv(fs.readFileSync(csv, 'utf8'), csv);
  // A fixed orthogonal 8×8 map (Householder reflection) hides the one-hot structure.
  const v = Array.from({ length: 8 }, (_, i) => i + 1);
  const vv = v.reduce((a, b) => a + b * b, 0);
  const emb = new Float32Array(t.names.length * 8);
  for (let c = 0; c < t.names.length; c++) {
    const row = t.values.subarray(c * 8, c * 8 + 8);
    const dot = row.reduce((a, b, i) => a + b * v[i], 0);
    for (let i = 0; i < 8; i++) emb[c * 8 + i] = row[i] - (2 * dot * v[i]) / vv;
  }
  fs.writeFileSync(path.join(tmp, 'e.npy'), encodeNpy(emb, [t.names.length, 8]));
  fs.writeFileSync(path.join(tmp, 'e.txt'), t.names.join('\n') + '\n');
  const out = path.join(tmp, 'zsl-sae');
  const res = await zeroShotRecipe({ seen: path.join(data, 'seen'), classEmbeddings: path.join(tmp, 'e.npy'), classNames: path.join(tmp, 'e.txt'), out, method: 'sae' });
  assert.ok(!('gamma' in res.regularisers));
  const ev = (await evaluateBundle(out, path.join(data, 'unseen'), {})) as ZslEvalResult;
  assert.ok(ev.perClassMeanAccuracy > 0.6, `SAE ZSL accuracy ${ev.perClassMeanAccuracy}`);
  assert.equal(ev.h, undefined);
});

test('zeroshot bilinear (x·W·s trained with the Trainer): far above chance, no tensors left behind', async () => {
  const { tf } = await import('../src/engine/tfjs.js');
  const before = tf.memory().numTensors;
  const out = path.join(tmp, 'zsl-bil');
  const res = await zeroShotRecipe({ seen: path.join(data, 'seen'), classTable: csv, out, method: 'bilinear' });
  assert.equal(tf.memory().numTensors, before, 'every training run disposed');
  assert.ok(res.selection.accuracy > 0.5, `held-out seen classes ${res.selection.accuracy}`);
  const ev = (await evaluateBundle(out, path.join(data, 'unseen'), {})) as ZslEvalResult;
  assert.ok(ev.perClassMeanAccuracy > 0.6, `bilinear ZSL accuracy ${ev.perClassMeanAccuracy}`);
});
