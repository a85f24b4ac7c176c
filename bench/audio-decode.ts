/**
 * `npm run bench:audio-decode`: decoding speed per format (src/audio/decode.ts) on the same clips —
 * 1 s, 44.1 kHz stereo, graft writes the WAV, Debian's sox the FLAC / Ogg Vorbis / MP3, opusenc
 * the Opus — in clips/s and × real time, one decode at a time.
 *
 *   npm run bench:audio-decode -- [--clips 50]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodeWav } from '../src/audio/wav.js';
import { decodeAudio } from '../src/audio/decode.js';
import { args } from './common.js';

const a = args({ clips: { type: 'string', default: '50' } });
const clips = Number(a.clips);
const rate = 44100;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-decode-'));
const exts = ['.wav', '.flac', '.ogg', '.opus', '.mp3'];
const bytes = new Map<string, Buffer[]>(exts.map((e) => [e, []]));
let s = 7;
for (let c = 0; c < clips; c++) {
  const ch = [0, 1].map((k) => Float32Array.from({ length: rate }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.3 * Math.sin((2 * Math.PI * (200 + 10 * c + 50 * k) * i) / rate) + 0.05 * (s / 2147483648 - 0.5);
  }));
  const wav = path.join(dir, `c${c}.wav`);
  fs.writeFileSync(wav, encodeWav(ch, { sampleRate: rate }));
  for (const e of exts) {
    const out = wav.replace(/\.wav$/, e);
    if (e !== '.wav') {
      const r = e === '.opus' ? spawnSync('opusenc', ['--quiet', wav, out]) : spawnSync('sox', [wav, out]);
      if (r.status !== 0) throw new Error(`${e}: needs Debian's sox, libsox-fmt-mp3 and opus-tools (${r.stderr})`);
    }
    bytes.get(e)!.push(fs.readFileSync(out));
  }
}
for (const e of exts) {
  const list = bytes.get(e)!;
  await decodeAudio(list[0]!); // warm-up: wasm compile
  const t = performance.now();
  for (const b of list) await decodeAudio(b);
  const sec = (performance.now() - t) / 1000;
  const kb = list.reduce((n, b) => n + b.length, 0) / list.length / 1024;
  console.log(`${e.slice(1).padEnd(5)} ${kb.toFixed(0).padStart(4)} KiB/clip  ${(clips / sec).toFixed(0).padStart(5)} clips/s (= × real time)`);
}
fs.rmSync(dir, { recursive: true, force: true });
