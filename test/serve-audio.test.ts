/**
 * graft serve with a model trained on sounds: WAV uploads (raw body and multipart) and OIP BYTES
 * inputs are classified through the bundle's own front-end, with graft's own probabilities; images
 * to a sound model, sounds to an image model and broken sound files are 4xx errors naming the problem.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { soundFixtures } from './sound-fixtures.js';
import { writeMnistImageFolder } from '../src/data/index.js';
import { Classifier } from '../src/recipes/predict.js';
import { trainClassifier } from '../src/recipes/train.js';
import { startServer, type RunningServer } from '../src/serve/server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-serve-audio-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const models = path.join(tmp, 'models');
const RATE = 8000;
let server: RunningServer;

const { tone, noise, write } = soundFixtures(RATE);

const sounds = path.join(tmp, 'sounds');
let probes: string[];
before(async () => {
  for (let i = 0; i < 8; i++) {
    write(path.join(sounds, 'tone', `t${i}.wav`), tone(Math.round(RATE * 0.5), 300 + 70 * i, i + 1));
    write(path.join(sounds, 'noise', `n${i}.wav`), noise(Math.round(RATE * 0.5), i + 40));
  }
  await trainClassifier({ data: sounds, out: path.join(models, 'sounds'), audio: { sampleRate: RATE, duration: 0.5, nMels: 64, nFft: 256, hop: 64 }, valPercent: 0, testPercent: 0 });
  const digits = path.join(tmp, 'digits');
  await writeMnistImageFolder(digits, 3);
  await trainClassifier({ data: digits, out: path.join(models, 'digits'), classes: ['0', '1'], valPercent: 0, testPercent: 0 });
  probes = [write(path.join(tmp, 'p', 'a.wav'), tone(RATE / 2, 520, 99)), write(path.join(tmp, 'p', 'b.wav'), noise(RATE / 2, 98))];
  server = await startServer({ models, port: 0, pollMs: 200, rateLimit: 0 });
});
after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a sound model over HTTP: raw and multipart WAV uploads and OIP BYTES give graft’s own probabilities; wrong kinds and broken files are 4xx', async () => {
  const clf = await Classifier.load(path.join(models, 'sounds'));
  const want = (await clf.predictFiles(probes)).predictions;
  await clf.dispose();
  assert.deepEqual(want.map((p) => p.label), ['tone', 'noise']);
  const raw = await fetch(`${server.url}/v1/models/sounds/predict`, { method: 'POST', body: fs.readFileSync(probes[0]!), headers: { 'content-type': 'audio/wav' } });
  assert.equal(raw.status, 200);
  const r0 = ((await raw.json()) as any).predictions[0];
  assert.equal(r0.label, 'tone');
  for (const [l, p] of Object.entries(want[0]!.probabilities)) assert.ok(Math.abs(r0.probabilities[l] - p) < 1e-5, `${l}: ${r0.probabilities[l]} vs ${p}`);
  const fd = new FormData();
  for (const f of probes) fd.append('file', new Blob([fs.readFileSync(f)]), path.basename(f));
  const multi = (await (await fetch(`${server.url}/v1/models/sounds/predict`, { method: 'POST', body: fd })).json()) as any;
  assert.deepEqual(multi.predictions.map((p: any) => p.label), ['tone', 'noise']);
  const wav = fs.readFileSync(probes[1]!);
  const oip = await fetch(`${server.url}/v2/models/sounds/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data: false }, data: [wav.toString('base64')] }] }) });
  const ob = (await oip.json()) as any;
  assert.equal(oip.status, 200, JSON.stringify(ob));
  const probs = ob.outputs.find((o: any) => o.datatype === 'FP32').data as number[];
  const order = Object.keys(want[1]!.probabilities);
  assert.ok(Math.abs(Math.max(...probs) - Math.max(...order.map((l) => want[1]!.probabilities[l]!))) < 1e-5, `OIP: ${probs}`);
  // Wrong kinds, broken files.
  const png = fs.readFileSync(path.join(tmp, 'digits', '0', fs.readdirSync(path.join(tmp, 'digits', '0'))[0]!));
  const cases: [string, Buffer, number, RegExp][] = [
    ['sounds', png, 415, /this model reads sounds, and the upload is a png image/],
    ['digits', wav, 415, /a sound file, but this model reads images/],
    ['sounds', wav.subarray(0, 30), 400, /sound|WAV|header|truncated/i],
    ['sounds', Buffer.concat([wav.subarray(0, 12), Buffer.from('garbage that is not a chunk')]), 400, /./],
    ['sounds', Buffer.alloc(0), 400, /send images .*raw request body/],
  ];
  for (const [m, body, status, re] of cases) {
    const r = await fetch(`${server.url}/v1/models/${m}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    const b = (await r.json()) as any;
    assert.equal(r.status, status, `${m} ${body.length} bytes: ${JSON.stringify(b)}`);
    assert.match(b.error, re);
  }
  // A long sound is read as predict reads it: the mean of its sliding windows.
  const long = new Float32Array(3 * RATE);
  long.set(tone(RATE, 450, 61), 0);
  long.set(noise(2 * RATE, 62), RATE);
  const longFile = write(path.join(tmp, 'p', 'long.wav'), long);
  const c2 = await Classifier.load(path.join(models, 'sounds'));
  const lw = (await c2.predictFiles([longFile])).predictions[0]!;
  await c2.dispose();
  assert.ok(lw.windows && lw.windows > 1, 'predict windows it');
  const lr = await fetch(`${server.url}/v1/models/sounds/predict`, { method: 'POST', body: fs.readFileSync(longFile) });
  const lp = ((await lr.json()) as any).predictions[0];
  assert.equal(lp.windows, lw.windows);
  for (const [l, p] of Object.entries(lw.probabilities)) assert.ok(Math.abs(lp.probabilities[l] - p) < 1e-5, `long sound, ${l}: server ${lp.probabilities[l]} vs predict ${p}`);
  assert.equal((await fetch(`${server.url}/v2/health/live`)).status, 200, 'still answering');
});
