/**
 * `npm run bench:audio`: the log-mel front-end (read WAV → mono → resample → mel → dB) in graft vs
 * torchaudio 0.13 (Debian python3-torchaudio) on the same files, clips/s. The two sides take turns
 * pass by pass (`--rounds` rounds of graft, torchaudio with a cached resampler, torchaudio with
 * functional.resample), so a change of machine load hits both; the ratio reported is the median of
 * the rounds' ratios. Like for like: graft caches its polyphase table per rate ratio, so the
 * headline compares with torchaudio caching a Resample per rate too, built with graft's filter
 * design (Kaiser, 24 zero crossings, rolloff 0.94, β 9); the second ratio is against
 * torchaudio.functional.resample with its defaults (a shorter Hann filter, rebuilt per clip).
 *
 * Last, both sides' CPU time per clip by stage (decode + mono, resample, STFT + mel, dB; and graft's
 * 224×224 image mapping, which is not part of the comparison).
 *
 *   npm run bench:audio -- [--clips 200] [--rate 22050] [--rounds 5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { encodeWav } from '../src/audio/wav.js';
import { audioFrontend, fixLength, loadWaveform, logMel, audioToRgb, spectrogramToRgb } from '../src/audio/frontend.js';
import { decodeAudio } from '../src/audio/decode.js';
import { downmix } from '../src/audio/wav.js';
import { resample } from '../src/audio/resample.js';
import { MelSpectrogram, amplitudeToDb } from '../src/audio/mel.js';
import { args } from './common.js';

const a = args({ clips: { type: 'string', default: '200' }, rate: { type: 'string', default: '22050' }, rounds: { type: 'string', default: '5' } });
const clips = Number(a.clips);
const rate = Number(a.rate);
const rounds = Number(a.rounds);
const fe = audioFrontend({});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-audio-'));
const files: string[] = [];
let s = 7;
for (let c = 0; c < clips; c++) {
  const x = Float32Array.from({ length: rate }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.3 * Math.sin((2 * Math.PI * (100 + 10 * c) * i) / rate) + 0.05 * (s / 2147483648 - 0.5);
  });
  const f = path.join(dir, `c${c}.wav`);
  fs.writeFileSync(f, encodeWav([x], { sampleRate: rate }));
  files.push(f);
}
const bytes = files.map((f) => fs.readFileSync(f));
/** One pass over the clips: clips/s (wall) and CPU ms per clip (all of the process's threads). */
async function ours(withImage: boolean): Promise<Pass> {
  const t = performance.now();
  const c = process.cpuUsage();
  for (const b of bytes) {
    if (withImage) await audioToRgb(b, fe, [224, 224]);
    else logMel(fixLength(await loadWaveform(b, fe.sampleRate), fe.sampleRate * fe.duration), fe);
  }
  const u = process.cpuUsage(c);
  return { rate: clips / ((performance.now() - t) / 1000), cpu: (u.user + u.system) / 1000 / clips };
}

interface Pass {
  rate: number;
  cpu: number;
}

/** A torchaudio process that runs one pass per request (bench/audio.py). */
class Peer {
  private readonly p: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private err = '';
  constructor(threads: number) {
    const t = String(threads);
    const env = { ...process.env, OMP_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, MKL_NUM_THREADS: t };
    this.p = spawn('/usr/bin/python3', [path.join(import.meta.dirname, 'audio.py'), list, String(fe.sampleRate), String(fe.nFft), String(fe.hop), String(fe.nMels), t], { env });
    this.p.stderr.on('data', (d: Buffer) => (this.err += d.toString()));
    this.lines = readline.createInterface({ input: this.p.stdout })[Symbol.asyncIterator]();
  }
  async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`torchaudio peer failed (sudo apt-get install python3-torchaudio): ${this.err.trim().split('\n').slice(-3).join(' | ')}`);
    return r.value;
  }
  /** torchaudio's CPU ms per clip by stage: decode, resample, mel, dB. */
  async profile(): Promise<number[]> {
    this.p.stdin.write('profile\n');
    return (await this.next()).split(' ').map(Number);
  }
  async pass(mode: 'cached' | 'call'): Promise<Pass> {
    this.p.stdin.write(`${mode}\n`);
    const [rate, cpu] = (await this.next()).split(' ').map(Number);
    return { rate: rate!, cpu: cpu! };
  }
  close(): void {
    this.p.stdin.end();
  }
}

/** graft's CPU ms per clip by stage, each stage over all clips in turn. */
async function profile(): Promise<number[]> {
  const cpu = (f: () => void): number => {
    const c = process.cpuUsage();
    f();
    const u = process.cpuUsage(c);
    return (u.user + u.system) / 1000 / clips;
  };
  const c0 = process.cpuUsage();
  const pcm = await Promise.all(bytes.map((b) => decodeAudio(b)));
  const mono = pcm.map((p) => downmix(p));
  const u0 = process.cpuUsage(c0);
  const decode = (u0.user + u0.system) / 1000 / clips;
  let x: Float32Array[] = [];
  const rs = cpu(() => (x = mono.map((m, i) => fixLength(resample(m, pcm[i]!.sampleRate, fe.sampleRate), fe.sampleRate * fe.duration))));
  const mel = new MelSpectrogram({ sampleRate: fe.sampleRate, nFft: fe.nFft, hop: fe.hop, nMels: fe.nMels, fmin: fe.fmin, fmax: fe.fmax });
  let specs: { data: Float32Array; nMels: number; frames: number }[] = [];
  const stft = cpu(() => (specs = x.map((v) => mel.compute(v))));
  const db = cpu(() => specs.forEach((sp) => amplitudeToDb(sp.data, fe.topDb)));
  const image = cpu(() => specs.forEach((sp) => spectrogramToRgb(sp, fe.topDb, [224, 224])));
  return [decode, rs, stft, db, image];
}

const median = (v: number[]): number => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length & 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const list = path.join(dir, 'files.txt');
fs.writeFileSync(list, files.join('\n'));
const load0 = os.loadavg()[0]!;
const peer = new Peer(1);
await peer.next(); // warmed up
await ours(false); // warm-up (JIT, plans)
const g: Pass[] = [];
const tc: Pass[] = [];
const tf: Pass[] = [];
for (let r = 0; r < rounds; r++) {
  g.push(await ours(false));
  tc.push(await peer.pass('cached'));
  tf.push(await peer.pass('call'));
}
const peerStages = await peer.profile();
peer.close();
const graftStages = await profile();
const graftImage = await ours(true);
const peer2 = new Peer(2);
await peer2.next();
const t2 = await peer2.pass('cached');
peer2.close();
fs.rmSync(dir, { recursive: true, force: true });
const ratio = (t: Pass[]) => median(g.map((x, i) => x.rate / t[i]!.rate));
const cpuRatio = (t: Pass[]) => median(g.map((x, i) => t[i]!.cpu / x.cpu));
const fmt = (v: Pass[]) => `${median(v.map((p) => p.rate)).toFixed(1)} clips/s (${v.map((p) => p.rate.toFixed(0)).join(', ')}), CPU ${median(v.map((p) => p.cpu)).toFixed(2)} ms/clip`;
console.log(`${clips} clips of 1 s at ${rate} Hz → ${fe.sampleRate} Hz, n_fft ${fe.nFft}, hop ${fe.hop}, ${fe.nMels} mels; ${rounds} interleaved rounds, load average ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`);
console.log(`graft (1 thread, JS + wasm SIMD):            ${fmt(g)}   (+ 224×224 image: ${graftImage.rate.toFixed(1)} clips/s)`);
console.log(`torchaudio, cached Resample, graft's filter: ${fmt(tc)}   (2 threads: ${t2.rate.toFixed(1)} clips/s)`);
console.log(`torchaudio, functional.resample defaults:    ${fmt(tf)}`);
const st = (v: number[]) => `decode ${v[0]!.toFixed(2)} + resample ${v[1]!.toFixed(2)} + STFT/mel ${v[2]!.toFixed(2)} + dB ${v[3]!.toFixed(2)} = ${(v[0]! + v[1]! + v[2]! + v[3]!).toFixed(2)} ms`;
console.log(`CPU per clip by stage: graft ${st(graftStages)} (+ 224×224 image ${graftStages[4]!.toFixed(2)} ms); torchaudio ${st(peerStages)}`);
console.log(`graft / torchaudio, median of rounds (clips/s; CPU time): ${ratio(tc).toFixed(2)}×; ${cpuRatio(tc).toFixed(2)}× vs cached Resample with graft's filter (like for like) — ${ratio(tf).toFixed(2)}×; ${cpuRatio(tf).toFixed(2)}× vs functional.resample (defaults, per clip)`);
