/**
 * Time stretching and pitch shifting of a mono waveform.
 *
 * `timeStretch` is WSOLA (waveform-similarity overlap-add, Verhelst & Roelands 1993): Hann frames
 * of `frame` samples are laid down every frame/2 output samples; frame k is read near input
 * position k·frame/(2·factor), moved by up to ±frame/4 to where it best matches (cross-correlation
 * over the overlap) the natural continuation of the frame before it — so periods line up and a
 * tone keeps its pitch while the sound gets `factor` times longer. `pitchShift` stretches by the
 * pitch ratio a/b and then plays the result a/b times as fast through the anti-aliased resampler
 * (src/audio/resample.ts): pitch × a/b, the length (tempo) unchanged.
 */
import { resample } from './resample.js';

/** x made `factor` times longer (round(n·factor) samples) without changing its pitch. */
export function timeStretch(x: Float32Array, factor: number, frame = 512): Float32Array {
  if (!(factor > 0 && Number.isFinite(factor))) throw new Error(`time stretch factor must be a positive number, got ${factor}`);
  if (!(Number.isInteger(frame) && frame >= 4 && frame % 2 === 0)) throw new Error(`time stretch frame must be an even integer ≥ 4, got ${frame}`);
  const hop = frame / 2;
  const tol = Math.floor(frame / 4);
  const outLen = Math.round(x.length * factor);
  // The input with zeros around it, so frames and searches may run off either end.
  const pad = frame + tol + hop;
  const xp = new Float64Array(x.length + 2 * pad + Math.ceil(hop / factor) * 2);
  for (let i = 0; i < x.length; i++) xp[pad + i] = x[i]!;
  const w = Float64Array.from({ length: frame }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / frame));
  const frames = Math.ceil(outLen / hop) + 1;
  const acc = new Float64Array(frames * hop + frame);
  const wsum = new Float64Array(acc.length);
  const last = xp.length - frame - hop; // the largest start whose frame and continuation stay inside xp
  let prev = 0;
  for (let k = 0; k < frames; k++) {
    // Frame k is centred on output k·hop and, before the search, on input k·hop/factor.
    const nominal = Math.min(last, pad - hop + Math.round((k * hop) / factor));
    let pos = nominal;
    if (k > 0) {
      const target = Math.min(last, prev + hop); // where the previous frame's signal continues
      const score = (c: number): number => {
        let s = 0;
        for (let i = 0; i < hop; i++) s += xp[c + i]! * xp[target + i]!;
        return s;
      };
      let best = score(nominal); // no move unless one matches strictly better (silence stays put)
      for (let d = -tol; d <= tol; d++) {
        const c = nominal + d;
        if (d === 0 || c < 0 || c > last) continue;
        const s = score(c);
        if (s > best) ((best = s), (pos = c));
      }
    }
    const o = k * hop;
    for (let i = 0; i < frame; i++) {
      acc[o + i] += xp[pos + i]! * w[i]!;
      wsum[o + i] += w[i]!;
    }
    prev = pos;
  }
  // Output sample t sits at acc[t + hop]: the first frame's rising half is dropped (wsum there < 1).
  const y = new Float32Array(outLen);
  for (let t = 0; t < outLen; t++) {
    const s = wsum[t + hop]!;
    y[t] = s > 1e-6 ? acc[t + hop]! / s : 0;
  }
  return y;
}

/** x with its pitch multiplied by up/down (small integers, e.g. 9/8 = a whole tone up), same length and timing. */
export function pitchShift(x: Float32Array, up: number, down: number): Float32Array {
  if (!(Number.isInteger(up) && Number.isInteger(down) && up > 0 && down > 0)) throw new Error(`pitch ratio must be two positive integers, got ${up}/${down}`);
  if (up === down) return x;
  const y = resample(timeStretch(x, up / down), up, down); // read as if at rate·up/down: up/down× as fast
  if (y.length === x.length) return y;
  const out = new Float32Array(x.length);
  out.set(y.length > x.length ? y.subarray(0, x.length) : y);
  return out;
}
