/**
 * `npm run bench:audio`: the log-mel front-end (read WAV → mono → resample → mel → dB) in graft vs
 * torchaudio 0.13 (Debian python3-torchaudio) on the same files in the same run, clips/s.
 *
 *   npm run bench:audio -- [--clips 200] [--rate 22050]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { encodeWav } from '../src/audio/wav.js';
import { audioFrontend, fixLength, loadWaveform, logMel, audioToRgb } from '../src/audio/frontend.js';
import { args } from './common.js';

const a = args({ clips: { type: 'string', default: '200' }, rate: { type: 'string', default: '22050' } });
const clips = Number(a.clips);
const rate = Number(a.rate);
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
async function ours(withImage: boolean): Promise<number> {
  const t = performance.now();
  for (const b of bytes) {
    if (withImage) await audioToRgb(b, fe, [224, 224]);
    else logMel(fixLength(await loadWaveform(b, fe.sampleRate), fe.sampleRate * fe.duration), fe);
  }
  return clips / ((performance.now() - t) / 1000);
}
await ours(false); // warm-up (JIT, plans)
const graft = await ours(false);
const graftImage = await ours(true);
const list = path.join(dir, 'files.txt');
fs.writeFileSync(list, files.join('\n'));
const peer = (threads: number): number => {
  const r = spawnSync('/usr/bin/python3', [path.join(import.meta.dirname, 'audio.py'), list, String(fe.sampleRate), String(fe.nFft), String(fe.hop), String(fe.nMels), String(threads)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torchaudio peer failed (sudo apt-get install python3-torchaudio): ${r.stderr}`);
  return Number(r.stdout.trim());
};
const t1 = peer(1);
const t2 = peer(2);
fs.rmSync(dir, { recursive: true, force: true });
console.log(`${clips} clips of 1 s at ${rate} Hz → ${fe.sampleRate} Hz, n_fft ${fe.nFft}, hop ${fe.hop}, ${fe.nMels} mels (machine shared with other jobs: ratios only)`);
console.log(`graft (1 thread, JS):            ${graft.toFixed(1)} clips/s   (+ 224×224 image: ${graftImage.toFixed(1)})`);
console.log(`torchaudio 0.13, 1 / 2 threads:  ${t1.toFixed(1)} / ${t2.toFixed(1)} clips/s`);
console.log(`ratio graft / torchaudio:        ${(graft / t1).toFixed(2)}× (1 thread), ${(graft / t2).toFixed(2)}× (2 threads)`);
