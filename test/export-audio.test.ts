/**
 * graft export --onnx --audio: a sound model as one ONNX graph from waveform to probabilities.
 * ORT on the exported graph must give graft's own probabilities (its front-end in JS + the network).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { soundFixtures } from './sound-fixtures.js';
import { fixLength, loadWaveform } from '../src/audio/frontend.js';
import { loadDataset } from '../src/data/index.js';
import { OrtSession } from '../src/engine/ort.js';
import { exportOnnx } from '../src/recipes/export.js';
import { Classifier } from '../src/recipes/predict.js';
import { trainClassifier } from '../src/recipes/train.js';
import { writeMnistImageFolder } from '../src/data/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-export-audio-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const RATE = 8000;

const { tone, noise, write } = soundFixtures(RATE);

test('export --onnx --audio: waveform in, the bundle’s probabilities out (ORT = graft within 1e-4), metadata, bad input', async (t) => {
  const data = path.join(tmp, 'sounds');
  for (let i = 0; i < 8; i++) {
    write(path.join(data, 'tone', `t${i}.wav`), tone(Math.round(RATE * (0.4 + 0.05 * i)), 300 + 70 * i, i + 1));
    write(path.join(data, 'noise', `n${i}.wav`), noise(Math.round(RATE * (0.45 + 0.03 * i)), i + 40));
  }
  write(path.join(data, 'tone', 'stereo-44k.wav'), tone(22050, 500, 77), 44100); // another rate: resampled before the graph
  const model = path.join(tmp, 'model');
  await trainClassifier({ data, out: model, audio: { sampleRate: RATE, duration: 0.5, nMels: 64, nFft: 256, hop: 64 }, valPercent: 0, testPercent: 0 });
  const file = path.join(tmp, 'sound.onnx');
  const res = await exportOnnx(model, file, { audio: true });
  assert.equal(res.input.name, 'waveform');
  assert.deepEqual(res.input.shape, ['N', 4000]);
  assert.ok(res.maxAbsDiff <= 1e-4, `probe batch: ${res.maxAbsDiff}`);
  const bytes = fs.readFileSync(file);
  assert.ok(bytes.includes(Buffer.from('graft.input')) && bytes.includes(Buffer.from('mono at 8000 Hz')), 'the input is described in the metadata');
  // Every training file: decoded, resampled and centred in JS (what a client does), then the graph.
  const ds = await loadDataset(data, { valPercent: 0, testPercent: 0 });
  const clf = await Classifier.load(model);
  const want = await clf.probabilities(ds.samples);
  await clf.dispose();
  const n = want.samples.length;
  const x = new Float32Array(n * 4000);
  for (const [i, s] of want.samples.entries()) x.set(fixLength(await loadWaveform(fs.readFileSync(path.join(data, s.id)), RATE), 4000), i * 4000);
  const session = await OrtSession.create(bytes);
  const got = await session.run(x, [n, 4000]);
  await session.release();
  assert.deepEqual(got.dims, [n, 2]);
  let d = 0;
  for (let i = 0; i < n * 2; i++) d = Math.max(d, Math.abs(got.data[i]! - want.probs[i]!));
  assert.ok(d <= 1e-4, `max |ORT − graft| over ${n} clips: ${d}`);
  t.diagnostic(`probe batch ${res.maxAbsDiff.toExponential(1)}, ${n} training clips ${d.toExponential(1)}, ${(bytes.length / 1e6).toFixed(1)} MB`);
  // An image model has no front-end to export.
  const digits = path.join(tmp, 'digits');
  await writeMnistImageFolder(digits, 3);
  const img = path.join(tmp, 'img-model');
  await trainClassifier({ data: digits, out: img, valPercent: 0, testPercent: 0, classes: ['0', '1'] });
  await assert.rejects(exportOnnx(img, path.join(tmp, 'x.onnx'), { audio: true }), /--audio exports a sound model .* this bundle reads images/);
  await assert.rejects(exportOnnx(model, path.join(tmp, 'y.onnx'), { audio: true, web: path.join(tmp, 'web') }), /--web runs image models/);
  assert.ok(!fs.existsSync(path.join(tmp, 'x.onnx')) && !fs.existsSync(path.join(tmp, 'y.onnx')), 'nothing written');
});
