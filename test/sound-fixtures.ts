/** Seeded synthetic sounds for the audio tests: Hann-enveloped tones and noise bursts, written as WAV. */
import fs from 'node:fs';
import path from 'node:path';
import { encodeWav } from '../src/audio/wav.js';

function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5);
}

/** Generators at sample rate `rate`; `write` makes the folder and returns the file. */
export function soundFixtures(rate: number) {
  const tone = (n: number, f0: number, seed: number) => {
    const r = lcg(seed);
    return Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((Math.PI * i) / n) ** 2 * Math.sin((2 * Math.PI * f0 * i) / rate) + 0.01 * r());
  };
  const noise = (n: number, seed: number) => {
    const r = lcg(seed);
    return Float32Array.from({ length: n }, (_, i) => Math.sin((Math.PI * i) / n) ** 2 * r());
  };
  const write = (file: string, x: Float32Array, sampleRate = rate) => (fs.mkdirSync(path.dirname(file), { recursive: true }), fs.writeFileSync(file, encodeWav([x], { sampleRate })), file);
  return { tone, noise, write };
}
