/**
 * Sounds through the image pipeline: a folder of espeak-ng spoken words trains like a folder of
 * images, the bundle keeps the front-end, predicts the same probabilities in a fresh process, and
 * bad sound files are skipped with their reason like bad images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { skipUnless } from './extras.js';
import { writeSpokenSet } from '../src/audio/espeak.js';
import { encodeWav } from '../src/audio/wav.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-audio-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const BIN = path.join(import.meta.dirname, '..', 'bin', 'graft.js');

test('a folder of spoken words: train → bundle with the front-end → same probabilities after reload; bad .wav skipped', { skip: skipUnless('espeak-ng') }, async () => {
  const data = path.join(tmp, 'words');
  writeSpokenSet(data, {
    words: ['one', 'two', 'three'],
    voices: ['en+m1', 'en+f2', 'en+m3', 'en+f4'],
    takes: [[120, 30], [150, 50], [180, 70], [210, 90]],
  });
  fs.writeFileSync(path.join(data, 'one', 'corrupt.wav'), Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt '));
  fs.writeFileSync(path.join(data, 'two', 'empty.wav'), encodeWav([new Float32Array(0)], { sampleRate: 16000 }));
  const { trainClassifier } = await import('../src/recipes/train.js');
  const out = path.join(tmp, 'model');
  const res = await trainClassifier({ data, out, valPercent: 20, testPercent: 25, audio: { duration: 1, nMels: 64 } });
  const reasons = Object.fromEntries(res.data.skipped.map((s) => [s.file, s.reason]));
  assert.match(reasons['one/corrupt.wav'] ?? '', /truncated header/);
  assert.match(reasons['two/empty.wav'] ?? '', /zero-length data chunk/);
  assert.equal(res.data.used, 48);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'graft.json'), 'utf8'));
  assert.deepEqual(meta.preprocess.audio, { sampleRate: 16000, nFft: 400, hop: 160, nMels: 64, fmin: 0, fmax: 8000, duration: 1, topDb: 80 });
  assert.ok(res.test && res.test.n > 0 && res.testProbabilities);
  // Chance is 33%: the spectrograms carry the word.
  assert.ok(res.test.accuracy > 0.5, `test accuracy ${res.test.accuracy}`);

  // A fresh process reads the bundle, decodes the files again (no cache) and agrees.
  const { ids, probs } = res.testProbabilities;
  const files = ids.map((id) => path.join(data, id));
  const r = spawnSync(process.execPath, [BIN, 'predict', out, ...files, path.join(data, 'one', 'corrupt.wav'), '--json'], { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { predictions: { file: string; probabilities: Record<string, number> }[]; skipped: { file: string; reason: string }[] };
  assert.equal(got.predictions.length, ids.length);
  assert.equal(got.skipped.length, 1);
  assert.match(got.skipped[0]!.reason, /cannot decode sound \(truncated header/);
  const k = res.labels.length;
  got.predictions.forEach((p, i) => res.labels.forEach((l, j) => assert.ok(Math.abs(p.probabilities[l]! - probs[i * k + j]!) < 1e-5, `${ids[i]} ${l}: ${p.probabilities[l]} vs ${probs[i * k + j]}`)));
  fs.rmSync(tmp, { recursive: true, force: true });
});
