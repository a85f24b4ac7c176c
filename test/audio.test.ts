/** The audio front-end (src/audio): WAV variants and failures, resampling, FFT, log-mel parity with torchaudio. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { decodeWav, downmix, encodeWav, readWavInfo } from '../src/audio/wav.js';
import { resample } from '../src/audio/resample.js';
import { ComplexFft, RealFft } from '../src/audio/fft.js';
import { MelSpectrogram, amplitudeToDb } from '../src/audio/mel.js';
import { audioFrontend, audioToRgb } from '../src/audio/frontend.js';
import { PYTHON, skipUnless } from './extras.js';

const tone = (n: number, hz: number, rate: number, amp = 0.5) => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate));

test('WAV: every PCM/float width, channel count and the extensible header decode to the samples written', () => {
  const a = tone(300, 440, 8000);
  const b = tone(300, 1000, 8000, 0.25);
  const c = tone(300, 60, 8000, -0.75);
  const variants = [
    { encoding: 'pcm', bitsPerSample: 8, tol: 1 / 120 },
    { encoding: 'pcm', bitsPerSample: 16, tol: 1 / 32768 },
    { encoding: 'pcm', bitsPerSample: 24, tol: 1e-6 },
    { encoding: 'pcm', bitsPerSample: 32, tol: 1e-8 },
    { encoding: 'float', bitsPerSample: 32, tol: 0 },
    { encoding: 'float', bitsPerSample: 64, tol: 1e-7 },
  ] as const;
  for (const v of variants) {
    for (const chans of [[a], [a, b], [a, b, c, a, b, c]]) {
      for (const extensible of [false, true]) {
        const bytes = encodeWav(chans, { sampleRate: 8000, encoding: v.encoding, bitsPerSample: v.bitsPerSample, extensible });
        const pcm = decodeWav(bytes);
        const what = `${v.encoding}${v.bitsPerSample} ×${chans.length}${extensible ? ' extensible' : ''}`;
        assert.equal(pcm.sampleRate, 8000, what);
        assert.equal(pcm.channels.length, chans.length, what);
        assert.equal(pcm.frames, 300, what);
        chans.forEach((ch, k) => ch.forEach((x, i) => assert.ok(Math.abs(pcm.channels[k]![i]! - x) <= v.tol + 1e-7, `${what}: ch ${k} sample ${i}`)));
        // The same file starting at an odd byte offset of a larger buffer decodes to the same samples.
        const shifted = new Uint8Array(bytes.length + 1);
        shifted.set(bytes, 1);
        assert.deepEqual(decodeWav(shifted.subarray(1)).channels, pcm.channels, `${what} at an odd offset`);
      }
    }
  }
  const st = decodeWav(encodeWav([a, c], { sampleRate: 8000, encoding: 'float' }));
  const mono = downmix(st);
  assert.ok(Math.abs(mono[10]! - (a[10]! + c[10]!) / 2) < 1e-7);
});

test('WAV: truncated header, zero-length data, unsupported codec and cut-off data give clear reasons', () => {
  const good = encodeWav([tone(100, 440, 8000)], { sampleRate: 8000 });
  assert.throws(() => readWavInfo(good.subarray(0, 8)), /truncated header/);
  assert.throws(() => readWavInfo(good.subarray(0, 30)), /truncated header/);
  const empty = encodeWav([new Float32Array(0)], { sampleRate: 8000 });
  assert.throws(() => readWavInfo(empty), /zero-length data chunk/);
  const alaw = Buffer.from(good);
  alaw.writeUInt16LE(6, 20);
  assert.throws(() => readWavInfo(alaw), /unsupported codec A-law \(format tag 0x0006\)/);
  const ext = encodeWav([tone(100, 440, 8000)], { sampleRate: 8000, extensible: true });
  ext.writeUInt16LE(0x55, 44);
  assert.throws(() => readWavInfo(ext), /unsupported codec MP3/);
  assert.throws(() => readWavInfo(Buffer.from('not a sound file at all')), /not a WAV file/);
  // Cut in the middle of the samples: the whole frames present are used.
  assert.equal(readWavInfo(good.subarray(0, 44 + 51)).frames, 25);
  assert.throws(() => readWavInfo(good.subarray(0, 45)), /truncated data/);
});

/** RMS of the middle of a signal (away from the filter's edge transients). */
function rms(x: Float32Array): number {
  const a = Math.floor(x.length * 0.2);
  const b = Math.floor(x.length * 0.8);
  let s = 0;
  for (let i = a; i < b; i++) s += x[i]! ** 2;
  return Math.sqrt(s / (b - a));
}

test('resampler passes an in-band tone and suppresses one above the new Nyquist (no aliasing)', () => {
  const n = 44100;
  const pass = resample(tone(n, 1000, 44100), 44100, 16000);
  assert.equal(pass.length, 16000);
  assert.ok(Math.abs(rms(pass) - 0.5 / Math.SQRT2) < 0.005, `1 kHz tone rms ${rms(pass)}`);
  // The output is the same tone: compare with a 1 kHz sine at 16 kHz sampled at the same instants.
  const ref = tone(16000, 1000, 16000);
  let err = 0;
  for (let i = 3000; i < 13000; i++) err = Math.max(err, Math.abs(pass[i]! - ref[i]!));
  assert.ok(err < 5e-3, `max deviation ${err}`);
  const stop = resample(tone(n, 10000, 44100), 44100, 16000); // would alias to 6 kHz
  const db = 20 * Math.log10(rms(stop) / (0.5 / Math.SQRT2));
  assert.ok(db < -60, `10 kHz tone after 44.1→16 kHz: ${db.toFixed(1)} dB`);
  const up = resample(tone(8000, 440, 8000), 8000, 22050);
  assert.equal(up.length, 22050);
  assert.ok(Math.abs(rms(up) - 0.5 / Math.SQRT2) < 0.005);
});

test('resampler output is the windowed-sinc sum of its definition, for tabulated and untabulated ratios', () => {
  const i0 = (v: number) => {
    let sum = 1;
    let term = 1;
    for (let k = 1; k < 60; k++) ((term *= (v * v) / 4 / (k * k)), (sum += term));
    return sum;
  };
  let s = 3;
  const x = Float32Array.from({ length: 22050 }, () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5));
  for (const [from, to] of [[22050, 16000], [8000, 22050], [16001, 16000], [44100, 16000]] as const) {
    const y = resample(x, from, to);
    const c = 0.94 * Math.min(1, to / from);
    const K = Math.ceil(24 / c);
    assert.equal(y.length, Math.ceil((x.length * to) / from));
    for (let j = 0; j < y.length; j += j < 50 || j > y.length - 50 ? 1 : 97) {
      const t = (j * from) / to;
      let ref = 0;
      for (let n = Math.ceil(t - K); n <= Math.floor(t + K); n++) {
        const tau = t - n;
        if (n < 0 || n >= x.length || Math.abs(tau) >= K) continue;
        const a = Math.PI * c * tau;
        ref += x[n]! * c * (a === 0 ? 1 : Math.sin(a) / a) * (i0(9 * Math.sqrt(1 - (tau / K) ** 2)) / i0(9));
      }
      assert.ok(Math.abs(y[j]! - ref) < 1e-6, `${from}→${to} sample ${j}: ${y[j]} vs ${ref}`);
    }
  }
});

test('FFT: complex and real transforms equal a direct DFT for power-of-two, mixed-radix and prime lengths', () => {
  for (const n of [1, 2, 5, 12, 97, 200, 400, 401, 512]) {
    const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) + 0.1 * i);
    const re = x.slice();
    const im = new Float64Array(n);
    new ComplexFft(n).forward(re, im);
    const rf = new RealFft(n);
    const rr = new Float64Array(rf.bins);
    const ri = new Float64Array(rf.bins);
    rf.forward(x, rr, ri);
    const pw = new Float64Array(rf.bins);
    rf.power(x, pw);
    for (let k = 0; k < rf.bins; k++) {
      let dr = 0;
      let di = 0;
      for (let j = 0; j < n; j++) ((dr += x[j]! * Math.cos((2 * Math.PI * j * k) / n)), (di -= x[j]! * Math.sin((2 * Math.PI * j * k) / n)));
      const tol = 1e-9 * n;
      assert.ok(Math.abs(re[k]! - dr) < tol && Math.abs(im[k]! - di) < tol, `complex n=${n} k=${k}`);
      assert.ok(Math.abs(rr[k]! - dr) < tol && Math.abs(ri[k]! - di) < tol, `real n=${n} k=${k}`);
      assert.ok(Math.abs(pw[k]! - (dr * dr + di * di)) < tol * (1 + Math.hypot(dr, di)), `power n=${n} k=${k}`);
    }
  }
});

test('front-end: a sound → backbone-sized 3-channel image; duration pads and crops', async () => {
  const fe = audioFrontend({ duration: 0.5 });
  const wav = encodeWav([tone(12000, 700, 22050), tone(12000, 700, 22050)], { sampleRate: 22050, bitsPerSample: 24 });
  const rgb = await audioToRgb(wav, fe, [64, 48]);
  assert.equal(rgb.length, 64 * 48 * 3);
  assert.ok(rgb.some((v) => v > 200) && rgb.some((v) => v < 50));
  for (let i = 0; i < rgb.length; i += 3) assert.ok(rgb[i] === rgb[i + 1] && rgb[i] === rgb[i + 2]);
  assert.throws(() => audioFrontend({ fmax: 9000 }), /fmax/);
  assert.throws(() => audioFrontend({ duration: 0.01 }), /too short/);
});

/** A test signal: a chirp plus a little deterministic noise. */
function signal(n: number, rate: number): Float32Array {
  let s = 1;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.3 * Math.sin(2 * Math.PI * (200 + (0.4 * rate * i) / n) * (i / rate)) + 0.05 * (s / 2147483648 - 0.5);
  });
}

const CONFIGS = [
  { sr: 16000, nFft: 400, hop: 160, nMels: 128, fmin: 0, fmax: 8000, topDb: 80, n: 16000 },
  { sr: 22050, nFft: 512, hop: 128, nMels: 64, fmin: 50, fmax: 7000, topDb: 60, n: 11025 },
  { sr: 8000, nFft: 301, hop: 100, nMels: 40, fmin: 20, fmax: 4000, topDb: 80, n: 4000 },
];

test('log-mel equals torchaudio 0.13 MelSpectrogram + AmplitudeToDB', { skip: skipUnless('torchaudio') }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-mel-'));
  try {
    for (const c of CONFIGS) {
      const x = signal(c.n, c.sr);
      const inp = path.join(dir, 'x.f32');
      fs.writeFileSync(inp, Buffer.from(x.buffer));
      const ours = new MelSpectrogram({ sampleRate: c.sr, nFft: c.nFft, hop: c.hop, nMels: c.nMels, fmin: c.fmin, fmax: c.fmax }).compute(x);
      amplitudeToDb(ours.data, c.topDb);
      for (const mode of ['float64', 'float32'] as const) {
        const out = path.join(dir, `y-${mode}`);
        const r = spawnSync(PYTHON, [path.join(import.meta.dirname, 'py', 'torchaudio_mel.py'), inp, out, ...[c.sr, c.nFft, c.hop, c.nMels, c.fmin, c.fmax, c.topDb].map(String), mode], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const buf = fs.readFileSync(out);
        const ref = mode === 'float64' ? new Float64Array(buf.buffer, buf.byteOffset, buf.length / 8) : new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
        assert.equal(r.stdout.trim(), `(${c.nMels}, ${ours.frames})`);
        assert.equal(ref.length, ours.data.length);
        let rel = 0;
        let span = 0;
        for (let i = 0; i < ref.length; i++) {
          const d = Math.abs(ours.data[i]! - ref[i]!);
          rel = Math.max(rel, d / Math.max(1, Math.abs(ref[i]!)));
          span = Math.max(span, d / c.topDb);
        }
        // float64 torchaudio (same definition, no rounding): elementwise 1e-4 relative. Its default
        // float32 build rounds the filter bank and STFT: within 1e-4 of the dB range (top_db).
        if (mode === 'float64') assert.ok(rel < 1e-4, `${JSON.stringify(c)} vs float64 torchaudio: max relative ${rel}`);
        else assert.ok(span < 1e-4, `${JSON.stringify(c)} vs float32 torchaudio: max error / top_db ${span}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('audio views: deterministic, each different from the plain one; VTLP moves a tone up or down; --augment N picks sound views', async () => {
  const { AUDIO_VIEWS } = await import('../src/audio/augment.js');
  const { firstViews, checkView } = await import('../src/data/augment.js');
  const { logMel } = await import('../src/audio/frontend.js');
  const fe = audioFrontend({ duration: 0.5, nMels: 64 });
  const x = Float32Array.from({ length: 6000 }, (_, i) => (i > 1000 && i < 5000 ? 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000) : 0));
  const wav = encodeWav([x], { sampleRate: 16000 });
  const plain = await audioToRgb(wav, fe, [64, 64]);
  for (const v of AUDIO_VIEWS.filter((v) => v !== 'none')) {
    const a = await audioToRgb(wav, fe, [64, 64], v);
    assert.deepEqual(a, await audioToRgb(wav, fe, [64, 64], v), `${v} is deterministic`);
    assert.notDeepEqual(a, plain, `${v} changes the image`);
  }
  const peak = (view: 'none' | 'vtlp-0.9' | 'vtlp-1.1') => {
    const s = logMel(Float32Array.from({ length: 8000 }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / 16000)), fe, view);
    let best = 0;
    for (let m = 0; m < s.nMels; m++) if (s.data[m * s.frames + 20]! > s.data[best * s.frames + 20]!) best = m;
    return best;
  };
  assert.ok(peak('vtlp-0.9') < peak('none') && peak('none') < peak('vtlp-1.1'), `${peak('vtlp-0.9')} ${peak('none')} ${peak('vtlp-1.1')}`);
  // Speed perturbation: 1.1× as fast → the tone 10% higher and 1/1.1 as long; 0.9× the reverse.
  const { waveView } = await import('../src/audio/augment.js');
  const burst = Float32Array.from({ length: 16000 }, (_, i) => (i >= 4000 && i < 12000 ? 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000) : 0));
  const zeroCrossings = (y: Float32Array) => y.reduce((n, v, i) => (i && Math.sign(v) !== Math.sign(y[i - 1]!) && Math.abs(v - y[i - 1]!) > 1e-3 ? n + 1 : n), 0);
  const active = (y: Float32Array) => {
    const on = Array.from(y, (v, i) => (Math.abs(v) > 0.05 ? i : -1)).filter((i) => i >= 0);
    return on[on.length - 1]! - on[0]! + 1; // the burst's extent
  };
  for (const [v, s] of [['speed-1.1', 1.1], ['speed-0.9', 0.9]] as const) {
    const y = waveView(burst, v, 16000);
    assert.equal(y.length, burst.length);
    assert.ok(Math.abs(zeroCrossings(y) / zeroCrossings(burst) - 1) < 0.03, `${v}: the same number of cycles`);
    assert.ok(Math.abs(active(y) / active(burst) - 1 / s) < 0.03, `${v}: the burst spans ${active(y)} samples vs ${active(burst)} (×${(1 / s).toFixed(3)})`);
  }
  // Pitch shift by a whole tone: the tone ×9/8 or ×8/9 (cycles in the burst's middle), the burst where it was and as long.
  const mid = (y: Float32Array) => zeroCrossings(y.subarray(5000, 11000));
  const [on, off] = [(y: Float32Array) => y.findIndex((v) => Math.abs(v) > 0.05), (y: Float32Array) => y.findLastIndex((v) => Math.abs(v) > 0.05)];
  for (const [v, s] of [['pitch-up', 9 / 8], ['pitch-down', 8 / 9]] as const) {
    const y = waveView(burst, v, 16000);
    assert.equal(y.length, burst.length);
    assert.ok(Math.abs(mid(y) / mid(burst) / s - 1) < 0.01, `${v}: ${mid(y)} vs ${mid(burst)} zero crossings (×${s.toFixed(3)})`);
    assert.ok(Math.abs(on(y) - on(burst)) < 160 && Math.abs(off(y) - off(burst)) < 160, `${v}: burst at ${on(y)}–${off(y)} vs ${on(burst)}–${off(burst)}`);
    const peakAmp = Math.max(...y.subarray(5000, 11000).map(Math.abs));
    assert.ok(Math.abs(peakAmp - 0.5) < 0.03, `${v}: amplitude ${peakAmp}`);
  }
  assert.deepEqual(firstViews(10, true).slice(8), ['speed-0.9', 'speed-1.1'], '--augment 10 is unchanged');
  assert.deepEqual(firstViews(12, true).slice(10), ['pitch-up', 'pitch-down']);
  assert.deepEqual(firstViews(3, true), ['none', 'shift-late', 'vtlp-0.9']);
  assert.equal(checkView('specaug-a'), 'specaug-a');
  assert.deepEqual(firstViews(2), ['none', 'flip']);
});

test('WSOLA time stretch: a tone gets longer or shorter and keeps its frequency', async () => {
  const { timeStretch, pitchShift } = await import('../src/audio/stretch.js');
  const x = tone(8000, 440, 16000);
  const period = (y: Float32Array) => {
    // Mean distance between rising zero crossings in the middle half (in samples).
    const up: number[] = [];
    for (let i = Math.floor(y.length / 4); i < (3 * y.length) / 4; i++) if (y[i - 1]! < 0 && y[i]! >= 0) up.push(i);
    return (up[up.length - 1]! - up[0]!) / (up.length - 1);
  };
  for (const f of [0.75, 1.3, 2]) {
    const y = timeStretch(x, f);
    assert.equal(y.length, Math.round(8000 * f));
    assert.ok(Math.abs(period(y) / period(x) - 1) < 0.01, `×${f}: period ${period(y)} vs ${period(x)}`);
    const r = rms(y.subarray(600, y.length - 600));
    assert.ok(Math.abs(r - 0.5 / Math.SQRT2) < 0.02, `×${f}: rms ${r}`);
  }
  assert.throws(() => timeStretch(x, 0), /factor/);
  assert.throws(() => pitchShift(x, 1.5, 1), /integers/);
});

test('report thumbnails picture a sound as its spectrogram', async () => {
  const { thumbnailPng } = await import('../src/report/thumbs.js');
  const sharp = (await import('sharp')).default;
  const wav = encodeWav([tone(16000, 500, 16000)], { sampleRate: 16000 });
  const png = await thumbnailPng({ id: 'a.wav', kind: 'encoded', load: async () => wav }, 48);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 48);
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.ok(Math.max(...data) > 200 && Math.min(...data) < 50, 'a tone: bright band on a dark ground');
});
