/**
 * `--duration auto` (the clip length is the median length of the training files) and sliding
 * windows at prediction time (a long sound is cut into clip-length windows whose probabilities are
 * averaged: src/audio/windows.ts). WAV only: no Debian extra needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodeWav } from '../src/audio/wav.js';
import { soundFixtures } from './sound-fixtures.js';
import { resolveFrontend } from '../src/audio/frontend.js';
import { LONG_CLIPS, soundWindows, windowOffsets } from '../src/audio/windows.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-audio-windows-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const BIN = path.join(import.meta.dirname, '..', 'bin', 'graft.js');
const RATE = 16000;

const { tone, noise, write } = soundFixtures(RATE);

test('window offsets: one window when the sound fits; else evenly from start to end, hop at most half a window', () => {
  assert.deepEqual(windowOffsets(100, 100), [0]);
  assert.deepEqual(windowOffsets(50, 100), [0]);
  assert.deepEqual(windowOffsets(200, 100), [0, 50, 100]);
  assert.deepEqual(windowOffsets(230, 100), [0, 43, 87, 130]);
  for (const [n, w] of [[16000 * 7 + 3, 8000], [12001, 8000], [99999, 1234]] as const) {
    const o = windowOffsets(n, w);
    assert.equal(o[0], 0);
    assert.equal(o.at(-1), n - w);
    for (let i = 1; i < o.length; i++) assert.ok(o[i]! - o[i - 1]! <= w / 2 && o[i]! > o[i - 1]!, `${n}/${w}: hop ${o[i]! - o[i - 1]!}`);
  }
  assert.throws(() => windowOffsets(10, 0), /positive/);
});

test('--duration auto: the median of the lengths, to the millisecond; none known is an error; a too-short median names auto', () => {
  assert.equal(resolveFrontend({ duration: 'auto' }, () => [0.4, 0.61234, 2, 0.5, 0]).fe.duration, 0.556); // 0 (unknown) left out: median of 4
  assert.deepEqual(resolveFrontend({ duration: 'auto', nMels: 64 }, () => [0.3, 0.9, 0.5]).auto, { files: 3, seconds: 0.5 });
  assert.equal(resolveFrontend({ duration: 0.7 }, () => assert.fail('not asked')).fe.duration, 0.7);
  assert.equal(resolveFrontend(undefined, () => []).fe.duration, 1);
  assert.throws(() => resolveFrontend({ duration: 'auto' }, () => []), /--duration auto: no training file gives its length/);
  assert.throws(() => resolveFrontend({ duration: 'auto' }, () => [0.005]), /--duration auto \(median of 1 training files: 0.005 s\): --duration 0.005 s is 80 samples, too short/);
});

test('windows of a long sound are its exact samples at the front-end rate; short sounds, images and bad files are not windowed', async () => {
  const { fe } = resolveFrontend({ duration: 0.5, sampleRate: RATE }, () => []);
  const { decodeWav } = await import('../src/audio/wav.js');
  const wav = encodeWav([tone(RATE * 2, 440, 1)], { sampleRate: RATE });
  const x = decodeWav(wav).channels[0]!; // 16-bit samples
  const wins = await soundWindows(wav, fe);
  assert.ok(wins);
  assert.deepEqual(windowOffsets(x.length, 8000), [0, 4000, 8000, 12000, 16000, 20000, 24000]);
  assert.equal(wins.length, 7);
  const third = decodeWav(await wins[3]!());
  assert.equal(third.sampleRate, RATE);
  assert.deepEqual(third.channels[0], x.subarray(12000, 20000));
  assert.equal(await soundWindows(encodeWav([x.subarray(0, Math.floor(LONG_CLIPS * 8000))], { sampleRate: RATE }), fe), undefined);
  assert.equal(await soundWindows(Buffer.from('not a sound'), fe), undefined);
  assert.equal(await soundWindows(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8]), fe), undefined);
});

test('train --duration auto takes the median training length; predict averages the windows of a long file', async () => {
  const data = path.join(tmp, 'data');
  // Lengths 0.4, 0.5, 0.6 s in turn: the median training file lasts 0.5 s whatever the split.
  const n = (i: number) => Math.round(RATE * [0.4, 0.5, 0.6][i % 3]!);
  for (let i = 0; i < 12; i++) {
    write(path.join(data, 'tone', `t${i}.wav`), tone(n(i), 300 + 60 * i, i + 1));
    write(path.join(data, 'noise', `n${i}.wav`), noise(n(i), i + 50));
  }
  const out = path.join(tmp, 'model');
  const bad = spawnSync(process.execPath, [BIN, 'train', data, '--out', out, '--duration', 'median'], { encoding: 'utf8', env: process.env });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--duration expects seconds or auto, got "median"/);
  const t = spawnSync(process.execPath, [BIN, 'train', data, '--out', out, '--duration', 'auto', '--n-mels', '64', '--val-percent', '25', '--test-percent', '0'], { encoding: 'utf8', env: process.env });
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /--duration auto: 0\.5 s clips, the median of \d+ training files/);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'graft.json'), 'utf8'));
  assert.equal(meta.preprocess.audio.duration, 0.5);

  // 3 s: 1 s of tone, then 2 s of noise → 11 windows of 0.5 s; each window alone, as a file, gives a probability row.
  const probe = path.join(tmp, 'probe');
  const long = Float32Array.from({ length: 3 * RATE }, () => 0);
  long.set(tone(RATE, 700, 91), 0);
  long.set(noise(2 * RATE, 92), RATE);
  const longFile = write(path.join(probe, 'long.wav'), long);
  const offsets = windowOffsets(long.length, RATE / 2);
  assert.equal(offsets.length, 11);
  const parts = offsets.map((at, i) => write(path.join(probe, `w${i}.wav`), long.slice(at, at + RATE / 2)));
  const short = write(path.join(probe, 'short.wav'), tone(RATE / 2, 700, 93));
  const r = spawnSync(process.execPath, [BIN, 'predict', out, longFile, short, ...parts, '--json'], { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  type P = { file: string; label: string; probabilities: Record<string, number>; windows?: number };
  const got = (JSON.parse(r.stdout) as { predictions: P[] }).predictions;
  assert.equal(got.length, 2 + parts.length);
  const [lp, sp, ...wp] = got as [P, P, ...P[]];
  assert.equal(lp.file, longFile);
  assert.equal(lp.windows, 11);
  assert.equal(sp.windows, undefined, 'a clip-length file is one window');
  assert.equal(sp.label, 'tone');
  for (const l of Object.keys(lp.probabilities)) {
    const mean = wp.reduce((a, p) => a + p.probabilities[l]!, 0) / wp.length;
    assert.ok(Math.abs(lp.probabilities[l]! - mean) < 1e-5, `${l}: ${lp.probabilities[l]} vs mean of windows ${mean}`);
  }
  // A third tone, two thirds noise: the first windows say tone, the mean says noise.
  assert.equal(lp.label, 'noise');
  assert.ok(wp.slice(0, 2).every((p) => p.label === 'tone'), `first windows (tone): ${wp.slice(0, 3).map((p) => p.label)}`);
  // eval scores a long sound by its windows too: labelled "noise", the long file counts as right (its centre clip alone is noise as well, so check the probabilities).
  const evalDir = path.join(tmp, 'eval');
  fs.mkdirSync(path.join(evalDir, 'noise'), { recursive: true });
  fs.mkdirSync(path.join(evalDir, 'tone'), { recursive: true });
  fs.copyFileSync(longFile, path.join(evalDir, 'noise', 'long.wav'));
  fs.copyFileSync(short, path.join(evalDir, 'tone', 'short.wav'));
  const { evaluateBundle } = await import('../src/recipes/evaluate.js');
  const { Classifier } = await import('../src/recipes/predict.js');
  const ev = await evaluateBundle(out, evalDir);
  assert.equal(ev.n, 2);
  assert.equal(ev.accuracy, 1, JSON.stringify(ev.confusion));
  const clf = await Classifier.load(out);
  const { loadDataset } = await import('../src/data/index.js');
  const eds = await loadDataset(evalDir, { valPercent: 0, testPercent: 0 });
  const w = await clf.windowedProbabilities(eds.samples);
  await clf.dispose();
  const longSample = eds.samples.find((x) => x.id.endsWith('long.wav'))!;
  assert.equal(w.windows.get(longSample), 11);
  const row = w.probs.subarray(w.samples.indexOf(longSample) * 2, w.samples.indexOf(longSample) * 2 + 2);
  const labels = Object.keys(lp.probabilities);
  for (const [j, l] of (await (await import('../src/bundle/bundle.js')).readBundleMeta(out)).labels.entries()) assert.ok(Math.abs(row[j]! - lp.probabilities[l]!) < 1e-5, `eval's windows = predict's for ${l} (${labels})`);
  fs.rmSync(tmp, { recursive: true, force: true });
});
