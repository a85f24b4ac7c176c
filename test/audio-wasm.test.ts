/** The WebAssembly SIMD audio kernels (src/audio/wasm): committed bytes match the source; each kernel against its float64 JS reference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { resample, resampleReference } from '../src/audio/resample.js';
import { frontendKey, audioFrontend, FRONTEND_VERSION } from '../src/audio/frontend.js';
import { MelSpectrogram, amplitudeToDb, amplitudeToDbReference } from '../src/audio/mel.js';
import { vtlpWarp } from '../src/audio/augment.js';
import { kernels } from '../src/audio/wasm/kernels.js';
import { preprocessKey } from '../src/data/decode.js';
import { spectrogramToRgb, toGrey, resizeBilinear, greyToRgb } from '../src/audio/image.js';

const noise = (n: number, seed: number): Float32Array => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5));
};

test('kernels.wasm.ts is what src/audio/wasm/*.wat compile to (npm run build:wasm)', () => {
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, '..', 'scripts', 'build-wasm.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('SIMD polyphase resampler equals the float64 JS one within float32 rounding, edges and every phase included', () => {
  const x = noise(22050, 3);
  // 22050→16000: 72 taps (a multiple of 4); 44100→16000 and 17600→16000: rows padded with zero taps; up-sampling; tiny inputs.
  for (const [from, to, n] of [[22050, 16000, 22050], [44100, 16000, 22050], [17600, 16000, 22050], [8000, 22050, 8000], [22050, 16000, 5], [22050, 16000, 1], [16000, 22050, 37]] as const) {
    const a = resample(x.subarray(0, n), from, to);
    const b = resampleReference(x.subarray(0, n), from, to);
    assert.equal(a.length, b.length);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    assert.ok(d < 1e-6, `${from}→${to}, ${n} samples: max difference ${d}`);
    assert.ok(a.every(Number.isFinite));
  }
  // A second design in between must not disturb the first one's resident table.
  const first = resample(x, 22050, 16000);
  resample(x, 44100, 16000);
  assert.deepEqual(resample(x, 22050, 16000), first);
  // Larger than any earlier call: memory grows, results still right.
  const long = noise(200000, 5);
  const a = resample(long, 48000, 16000);
  const b = resampleReference(long, 48000, 16000);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  assert.ok(d < 1e-6, `48000→16000, 200000 samples: ${d}`);
  assert.equal(resample(new Float32Array(0), 22050, 16000).length, 0);
  const bad = x.slice(0, 2000);
  bad[1000] = NaN;
  const yb = resample(bad, 22050, 16000);
  assert.ok(Number.isNaN(yb[725]!) && Number.isFinite(yb[0]!) && Number.isFinite(yb[1450]!), 'a NaN sample spoils only the outputs whose taps reach it');
  assert.throws(() => resample(x, 0, 16000), /positive integers/);
  assert.throws(() => resample(x, 22050.5, 16000), /positive integers/);
});

test('SIMD STFT + mel equals the JS path bit for bit (radix 2, 3, 4, 5; odd frame counts; VTLP-warped banks); JS where it cannot run', () => {
  const configs = [
    { sampleRate: 16000, nFft: 400, hop: 160, nMels: 128, fmin: 0, fmax: 8000, n: 16000 }, // 200 = 4·2·5·5
    { sampleRate: 22050, nFft: 512, hop: 128, nMels: 64, fmin: 50, fmax: 7000, n: 11025 }, // 256 = 4·4·4·4
    { sampleRate: 8000, nFft: 300, hop: 100, nMels: 40, fmin: 20, fmax: 4000, n: 4100 }, // 150 = 2·3·5·5, 42 frames
    { sampleRate: 8000, nFft: 6, hop: 2, nMels: 2, fmin: 0, fmax: 4000, n: 9 }, // 3 points, 5 frames
    { sampleRate: 16000, nFft: 400, hop: 160, nMels: 128, fmin: 0, fmax: 8000, n: 8000, warp: (f: number) => vtlpWarp(f, 1.1, 8000) },
  ];
  for (const [i, c] of configs.entries()) {
    const x = noise(c.n, 11 + i);
    const m = new MelSpectrogram(c);
    const a = m.compute(x);
    const b = m.compute(x, { simd: false });
    assert.equal(a.frames, b.frames);
    assert.deepEqual(a.data, b.data, `n_fft ${c.nFft}, ${c.n} samples`);
    assert.ok(a.data.some((v) => v > 0));
  }
  // n_fft 14 (7 points: no SIMD radix), odd n_fft, magnitude: the JS path, still right.
  for (const c of [{ nFft: 14 }, { nFft: 301 }, { nFft: 400, power: 1 }]) {
    const m = new MelSpectrogram({ sampleRate: 8000, hop: 50, nMels: 8, fmin: 0, fmax: 4000, ...c });
    const x = noise(1000, 2);
    assert.deepEqual(m.compute(x).data, m.compute(x, { simd: false }).data);
  }
  assert.throws(() => new MelSpectrogram({ sampleRate: 16000, nFft: 400, hop: 160, nMels: 8, fmin: 0, fmax: 8000 }).compute(noise(150, 1)), /too short/);
  const nan = noise(4000, 3);
  nan[2000] = NaN;
  const mn = new MelSpectrogram({ sampleRate: 16000, nFft: 400, hop: 160, nMels: 16, fmin: 0, fmax: 8000 });
  assert.deepEqual(mn.compute(nan).data, mn.compute(nan, { simd: false }).data, 'NaN input: the same NaN cells');
});

test('a long sound: the kernels module that grew past 32 MiB is dropped after the call, and the next one is right', () => {
  const before = kernels();
  const long = noise(9_000_000, 9); // 36 MB in, 26 MB out, plus margins
  const y = resample(long, 22050, 16000);
  assert.equal(y.length, Math.ceil((long.length * 16000) / 22050));
  assert.notEqual(kernels(), before, 'a fresh instance after the long call');
  const x = noise(5000, 4);
  assert.deepEqual(resample(x, 22050, 16000).length, resampleReference(x, 22050, 16000).length);
  let d = 0;
  const a = resample(x, 22050, 16000);
  const b = resampleReference(x, 22050, 16000);
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  assert.ok(d < 1e-6, `after renewal: ${d}`);
  // the long call's middle is the same as resampling that stretch alone (away from its edges)
  const part = resample(long.subarray(441 * 1000, 441 * 1100), 22050, 16000);
  for (let i = 100; i < 3000; i += 37) assert.ok(Math.abs(part[i]! - y[320 * 1000 + i]!) < 1e-6);
});

test('SIMD dB equals the Math.log loop: wide dynamic range, floors, magnitude, odd lengths, zeros, NaN, infinity, empty', () => {
  let s = 5;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648);
  const cases = [
    Float32Array.from({ length: 50001 }, () => Math.exp(60 * (r() - 0.7))), // 1e-18 … 1e7
    Float32Array.from([0, 1e-12, 1e-10, 1, NaN, 3e38, 2]),
    Float32Array.from([Infinity, 1, 2, 0, 1e-3]),
    new Float32Array(3),
    new Float32Array(0),
  ];
  for (const c of cases)
    for (const top of [80, 30, null])
      for (const st of ['power', 'magnitude'] as const) {
        const a = amplitudeToDb(c.slice(), top, st);
        const b = amplitudeToDbReference(c.slice(), top, st);
        assert.deepEqual(a, b, `${c.length} values, top_db ${top}, ${st}`);
      }
  const x = Float32Array.from([1, 0.01, 1e-4]);
  assert.equal(amplitudeToDb(x, 30), x, 'in place');
  assert.deepEqual([...x].map((v) => Math.round(v)), [0, -20, -30]);
});

test('SIMD spectrogram → RGB image equals toGrey → resizeBilinear → greyToRgb byte for byte (down/up-scaling, odd sizes, flat and NaN spectrograms)', () => {
  const m = new MelSpectrogram({ sampleRate: 16000, nFft: 400, hop: 160, nMels: 128, fmin: 0, fmax: 8000 });
  const spec = m.compute(noise(16000, 21));
  amplitudeToDb(spec.data, 80);
  const ref = (sp: typeof spec, top: number, h: number, w: number) => greyToRgb(resizeBilinear(toGrey(sp, top), sp.nMels, sp.frames, h, w));
  for (const [h, w] of [[224, 224], [64, 48], [33, 17], [1, 1], [299, 301], [128, 101]] as const) {
    for (const top of [80, 30]) assert.deepEqual(spectrogramToRgb(spec, top, [h, w]), ref(spec, top, h, w), `${h}×${w}, top_db ${top}`);
  }
  const tiny = { data: Float32Array.from([-3, 5, 1, 0, -80, 2]), nMels: 2, frames: 3 };
  assert.deepEqual(spectrogramToRgb(tiny, 80, [5, 7]), ref(tiny, 80, 5, 7));
  const flat = { data: new Float32Array(12).fill(-20), nMels: 3, frames: 4 };
  assert.deepEqual(spectrogramToRgb(flat, 80, [8, 8]), ref(flat, 80, 8, 8));
  assert.ok(spectrogramToRgb(flat, 80, [8, 8]).every((v) => v === 0));
  const nan = { data: Float32Array.from([1, NaN, 3, 4]), nMels: 2, frames: 2 };
  assert.deepEqual(spectrogramToRgb(nan, 80, [4, 4]), ref(nan, 80, 4, 4));
  assert.throws(() => spectrogramToRgb(spec, 80, [0, 10]), /positive integers/);
});

test('the feature-store key names the front-end implementation', () => {
  assert.match(frontendKey(audioFrontend({})), new RegExp(`"v${FRONTEND_VERSION}"`));
  const pre = { size: [224, 224] as [number, number], resize: 'squash' as const, mean: [0, 0, 0], std: [1, 1, 1], audio: audioFrontend({}) };
  assert.ok(preprocessKey(pre).includes(`v${FRONTEND_VERSION}`), 'and so does the preprocess key the feature store hashes');
  assert.ok(FRONTEND_VERSION >= 2, 'the SIMD resampler moved the numbers: version 1 features must not be reused');
});
