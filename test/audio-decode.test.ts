/**
 * FLAC, Ogg Vorbis, Ogg Opus and MP3 (src/audio/decode.ts): fixtures are written at test time by
 * Debian's sox (opusenc for Opus) from a WAV graft wrote, and decoded back: FLAC gives the WAV's
 * samples, the lossy codecs the same signal (length within the codec's padding, same dominant
 * frequency, correlation > 0.95 once aligned). Truncated, corrupt and foreign files fail with their
 * reason; a folder of such files trains, skips the bad ones with that reason, and predicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { skipUnless } from './extras.js';
import { encodeWav, downmix, type PcmAudio } from '../src/audio/wav.js';
import { decodeAudio, sniffSound } from '../src/audio/decode.js';
import { resample } from '../src/audio/resample.js';
import { RealFft } from '../src/audio/fft.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-audio-decode-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const BIN = path.join(import.meta.dirname, '..', 'bin', 'graft.js');
const RATE = 22050;

/** f0 under a rise-and-fall envelope, a little noise, and (`second`) a weaker 1250 Hz from the middle on: one clear peak, one alignment. */
function signal(n: number, rate: number, f0 = 440, seed = 1, second = true): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    const env = Math.sin((Math.PI * i) / n) ** 2;
    const t = i / rate;
    return 0.5 * env * Math.sin(2 * Math.PI * f0 * t) + (second && i > n / 2 ? 0.15 * Math.sin(2 * Math.PI * 1250 * t) : 0) + 0.01 * (s / 2147483648 - 0.5);
  });
}

/** White noise under the same envelope. */
function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.sin((Math.PI * i) / n) ** 2 * (s / 2147483648 - 0.5);
  });
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/** file.wav (graft's writer) → file.<ext> by sox, or by opusenc for .opus. */
function encode(wav: string, ext: string): string {
  const out = wav.replace(/\.wav$/, ext);
  if (ext === '.opus') run('opusenc', ['--quiet', wav, out]);
  else run('sox', [wav, out]);
  return out;
}

function writeWav(file: string, channels: Float32Array[], rate = RATE): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodeWav(channels, { sampleRate: rate }));
  return file;
}

const read = (f: string) => new Uint8Array(fs.readFileSync(f));

/** Bin of the largest magnitude of a Hann-windowed 8192-point spectrum from the middle of x. */
function peakBin(x: Float32Array): number {
  const n = 8192;
  const at = Math.max(0, Math.floor((x.length - n) / 2));
  const seg = Float64Array.from({ length: n }, (_, i) => (x[at + i] ?? 0) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n)));
  const re = new Float64Array(n / 2 + 1);
  const im = new Float64Array(n / 2 + 1);
  new RealFft(n).forward(seg, re, im);
  let best = 1;
  for (let k = 1; k <= n / 2; k++) if (re[k]! ** 2 + im[k]! ** 2 > re[best]! ** 2 + im[best]! ** 2) best = k;
  return best;
}

/** The lag (y delayed by `lag` samples) with the largest normalised correlation, searched in ±maxLag. */
function align(x: Float32Array, y: Float32Array, maxLag: number): { lag: number; r: number } {
  let best = { lag: 0, r: -Infinity };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = Math.max(0, -lag); i < x.length && i + lag < y.length; i++) {
      const a = x[i]!;
      const b = y[i + lag]!;
      ((xy += a * b), (xx += a * a), (yy += b * b));
    }
    const r = xy / Math.sqrt(xx * yy || 1);
    if (r > best.r) best = { lag, r };
  }
  return best;
}

/** Mono at the reference rate. */
const mono = (p: PcmAudio, rate: number) => resample(downmix(p), p.sampleRate, rate);

test('FLAC decodes to the WAV samples exactly; Ogg Vorbis, Opus, MP3 and MP2 to the same signal', { skip: skipUnless('sox', 'sox-mp3', 'opusenc') }, async () => {
  const dir = path.join(tmp, 'formats');
  const n = Math.round(0.6 * RATE);
  const wav = writeWav(path.join(dir, 'tone.wav'), [signal(n, RATE)]);
  const stereo = path.join(dir, 'stereo.wav');
  fs.writeFileSync(stereo, encodeWav([signal(13230, 44100, 440, 2), signal(13230, 44100, 660, 3)], { sampleRate: 44100, bitsPerSample: 24 }));
  const ref = await decodeAudio(read(wav));
  assert.equal(ref.frames, n);

  for (const src of [wav, stereo]) {
    const flac = read(encode(src, '.flac'));
    assert.equal(sniffSound(flac), 'flac');
    const want = await decodeAudio(read(src));
    const got = await decodeAudio(flac);
    assert.equal(got.sampleRate, want.sampleRate);
    assert.equal(got.channels.length, want.channels.length);
    assert.equal(got.frames, want.frames);
    got.channels.forEach((c, ch) => c.forEach((v, i) => assert.ok(Math.abs(v - want.channels[ch]![i]!) <= 1e-6, `${path.basename(src)} ch ${ch} sample ${i}: ${v} vs ${want.channels[ch]![i]}`)));
  }

  const x = ref.channels[0]!;
  // Length: Vorbis and Opus streams say their exact length; sox writes MP3 without a gapless
  // (LAME/Xing) header, so the encoder's delay and padding (under two 576-sample granules + one frame) stay in.
  const cases = [
    { ext: '.ogg', format: 'ogg-vorbis', slack: 0, maxLag: 50 },
    { ext: '.opus', format: 'ogg-opus', slack: 2, maxLag: 50 },
    { ext: '.mp3', format: 'mp3', slack: 3 * 576 + 1152, maxLag: 3 * 576 + 1152 },
    { ext: '.mp2', format: 'mp3', slack: 1152 + 576, maxLag: 1152 }, // MPEG layer II (sox via twolame), same decoder
  ] as const;
  for (const c of cases) {
    const bytes = read(encode(wav, c.ext));
    assert.equal(sniffSound(bytes), c.format);
    const pcm = await decodeAudio(bytes);
    assert.equal(pcm.channels.length, 1, `${c.format}: mono stays mono`);
    if (c.format === 'ogg-opus') assert.equal(pcm.sampleRate, 48000);
    else assert.equal(pcm.sampleRate, RATE);
    const y = mono(pcm, RATE);
    assert.ok(y.length >= n - c.slack && y.length <= n + c.slack, `${c.format}: ${y.length} samples for ${n}`);
    assert.equal(peakBin(y), peakBin(x), `${c.format}: dominant frequency`);
    const { lag, r } = align(x, y, c.maxLag);
    assert.ok(r > 0.95, `${c.format}: correlation ${r.toFixed(4)} at lag ${lag}`);
    if (c.format !== 'mp3') assert.ok(Math.abs(lag) <= 2, `${c.format}: aligned at lag ${lag} (the decoder drops the pre-skip)`);
  }
});

test('truncated, corrupt and foreign files: one-line reasons, from the content, not the name', { skip: skipUnless('sox', 'sox-mp3', 'opusenc') }, async () => {
  const dir = path.join(tmp, 'bad');
  const wav = writeWav(path.join(dir, 'tone.wav'), [signal(RATE, RATE)]);
  const files = Object.fromEntries(['.flac', '.ogg', '.opus', '.mp3'].map((e) => [e, read(encode(wav, e))]));
  const reason = async (b: Uint8Array) => decodeAudio(b).then(() => 'decoded', (e: Error) => e.message);
  const half = (b: Uint8Array) => b.subarray(0, Math.floor(b.length / 2));

  assert.match(await reason(half(files['.flac']!)), /^truncated or corrupt FLAC stream \(decoded \d+ of the 22050 samples its header gives\)$/);
  assert.match(await reason(files['.flac']!.subarray(0, 30)), /^truncated header/);
  assert.match(await reason(half(files['.ogg']!)), /^truncated file \(Ogg page at byte \d+ needs \d+ bytes, \d+ left\)$/);
  assert.match(await reason(half(files['.opus']!)), /^truncated file/);
  assert.match(await reason(half(files['.mp3']!)), /^truncated file \(the last MPEG frame needs \d+ bytes, \d+ left\)$/);
  const flipped = files['.ogg']!.slice();
  flipped[flipped.length - 10]! ^= 0x55;
  assert.match(await reason(flipped), /^corrupt Ogg page at byte \d+ \(CRC mismatch\)$/);
  const smashed = files['.mp3']!.slice();
  smashed.fill(0x41, 800, 900);
  assert.match(await reason(smashed), /^corrupt MPEG stream \(no frame header at byte \d+/);
  assert.match(await reason(new Uint8Array(4000).fill(7)), /^not a sound file graft reads \(content is none of WAV, FLAC, Ogg Vorbis, Ogg Opus, MP3\)$/);
  assert.match(await reason(new Uint8Array(0)), /^empty file/);
  const aiff = path.join(dir, 'tone.aiff');
  run('sox', [wav, aiff]);
  assert.match(await reason(read(aiff)), /^unsupported format AIFF; graft reads WAV, FLAC, Ogg Vorbis, Ogg Opus, MP3$/);
  const oggFlac = Buffer.from(files['.ogg']!);
  oggFlac.write('\x7fFLAC\x01\x00', 28 + oggFlac[26]! - 1, 'latin1'); // first packet of the first page
  assert.match(await reason(oggFlac), /^unsupported Ogg codec FLAC; graft reads Ogg Vorbis and Ogg Opus$/);
  // An ID3v2 tag in front of an MP3 is skipped.
  const id3 = Buffer.concat([Buffer.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 20]), Buffer.alloc(20), files['.mp3']!]);
  assert.equal(sniffSound(id3), 'mp3');
  assert.equal((await decodeAudio(id3)).sampleRate, RATE);
  // A JPEG is no MPEG frame.
  assert.equal(sniffSound(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1])), undefined);
});

test('a folder of FLAC/Ogg/MP3/Opus sounds trains; bad files are skipped with their reason; predict reads FLAC as its WAV', { skip: skipUnless('sox', 'sox-mp3', 'opusenc') }, async () => {
  const data = path.join(tmp, 'tones');
  const exts = ['.flac', '.ogg', '.mp3', '.opus'];
  // Two classes a spectrogram tells apart at a glance: steady tones (300–1400 Hz) and noise bursts.
  const make = (cls: string, f0: number, seed: number) => (cls === 'tone' ? signal(Math.round(0.5 * RATE), RATE, f0, seed, false) : noise(Math.round(0.5 * RATE), seed));
  for (const cls of ['tone', 'noise']) {
    for (let i = 0; i < 12; i++) {
      const wav = writeWav(path.join(data, cls, `t${i}.wav`), [make(cls, 300 + 100 * i, i + 1)]);
      encode(wav, exts[i % exts.length]!);
      fs.rmSync(wav);
    }
  }
  // Content decides the decoder: a FLAC named .mp3 is read; garbage named .flac and a cut-off Ogg are skipped.
  fs.renameSync(path.join(data, 'tone', 't0.flac'), path.join(data, 'tone', 't0-really-flac.mp3'));
  fs.writeFileSync(path.join(data, 'tone', 'garbage.flac'), Buffer.alloc(3000, 0x5a));
  const ogg = fs.readFileSync(path.join(data, 'noise', 't1.ogg'));
  fs.writeFileSync(path.join(data, 'noise', 'cut.ogg'), ogg.subarray(0, ogg.length - 100));
  const flac = fs.readFileSync(path.join(data, 'noise', 't4.flac'));
  fs.writeFileSync(path.join(data, 'noise', 'cut.flac'), flac.subarray(0, Math.floor(flac.length * 0.6)));

  const { trainClassifier } = await import('../src/recipes/train.js');
  const out = path.join(tmp, 'model');
  const res = await trainClassifier({ data, out, valPercent: 25, testPercent: 0, audio: { duration: 0.5, nMels: 64 } });
  const reasons = Object.fromEntries(res.data.skipped.map((s) => [s.file, s.reason]));
  assert.match(reasons['tone/garbage.flac'] ?? '', /^not a sound file graft reads/);
  assert.match(reasons['noise/cut.ogg'] ?? '', /^truncated file \(Ogg page/);
  // Its header is whole: the FLAC is cut off only when decoded, then skipped like an undecodable image.
  assert.match(reasons['noise/cut.flac'] ?? '', /cannot decode sound \(truncated or corrupt FLAC stream/);
  assert.equal(res.data.used, 24);
  assert.ok(res.val && res.val.n > 0, 'a validation split');
  assert.ok(res.val.accuracy >= 0.75, `validation accuracy ${res.val.accuracy}`);

  // A fresh process: new tones as FLAC (and the same tones as WAV: identical probabilities), Ogg, MP3, Opus; a bad file is skipped.
  const probe = path.join(tmp, 'probe');
  const files: string[] = [];
  for (const cls of ['tone', 'noise']) {
    const wav = writeWav(path.join(probe, `${cls}.wav`), [make(cls, 850, 99)]);
    files.push(wav, ...exts.map((e) => encode(wav, e)));
  }
  const r = spawnSync(process.execPath, [BIN, 'predict', out, ...files, path.join(data, 'tone', 'garbage.flac'), '--json'], { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { predictions: { file: string; label: string; probabilities: Record<string, number> }[]; skipped: { file: string; reason: string }[] };
  assert.equal(got.predictions.length, files.length);
  assert.equal(got.skipped.length, 1);
  assert.match(got.skipped[0]!.reason, /cannot decode sound \(not a sound file graft reads/);
  const by = Object.fromEntries(got.predictions.map((p) => [path.basename(p.file), p]));
  for (const cls of ['tone', 'noise']) {
    for (const e of ['.wav', ...exts]) assert.equal(by[cls + e]!.label, cls, `${cls}${e} → ${by[cls + e]!.label}`);
    for (const l of res.labels) assert.ok(Math.abs(by[`${cls}.flac`]!.probabilities[l]! - by[`${cls}.wav`]!.probabilities[l]!) < 1e-6, `${cls}.flac ${l} = ${cls}.wav ${l}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});
