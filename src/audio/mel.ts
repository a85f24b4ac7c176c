/**
 * Log-mel spectrogram, defined as torchaudio 0.13 defines it (`MelSpectrogram` + `AmplitudeToDB`):
 * centred frames (reflect padding of n_fft/2), periodic Hann window, |STFT|^power, an HTK-mel
 * triangular filter bank over linspace(0, sr//2, n_fft/2+1) Hz without normalisation, then
 * 10·log10(max(x, 1e-10)) floored at (max − top_db) over the whole spectrogram.
 */
import { RealFft } from './fft.js';
import { stftMel, type SimdMelPlan } from './wasm/stft.js';
import { align, kernels, release } from './wasm/kernels.js';

export interface MelOptions {
  sampleRate: number;
  nFft: number;
  hop: number;
  nMels: number;
  fmin: number;
  /** Upper edge in Hz (torchaudio's default: sampleRate/2). */
  fmax: number;
  /** 2 = power spectrogram (default), 1 = magnitude. */
  power?: number;
  /** VTLP: bin frequencies are warped by this function before the filter bank is applied. */
  warp?: (f: number) => number;
}

export interface Spectrogram {
  /** nMels × frames, row-major (mel band m, frame t at m·frames + t). */
  data: Float32Array;
  nMels: number;
  frames: number;
}

const hzToMel = (f: number): number => 2595 * Math.log10(1 + f / 700);
const melToHz = (m: number): number => 700 * (10 ** (m / 2595) - 1);

/** The filter bank, n_freqs × n_mels row-major (torchaudio.functional.melscale_fbanks, htk, norm=None). */
export function melFilterbank(nFreqs: number, fmin: number, fmax: number, nMels: number, sampleRate: number, warp?: (f: number) => number): Float64Array {
  const fb = new Float64Array(nFreqs * nMels);
  const top = Math.floor(sampleRate / 2);
  const mMin = hzToMel(fmin);
  const mMax = hzToMel(fmax);
  const fPts = Array.from({ length: nMels + 2 }, (_, i) => melToHz(mMin + ((mMax - mMin) * i) / (nMels + 1)));
  for (let k = 0; k < nFreqs; k++) {
    const f0 = nFreqs === 1 ? 0 : (top * k) / (nFreqs - 1);
    const f = warp ? warp(f0) : f0;
    for (let m = 0; m < nMels; m++) {
      const down = (f - fPts[m]!) / (fPts[m + 1]! - fPts[m]!);
      const up = (fPts[m + 2]! - f) / (fPts[m + 2]! - fPts[m + 1]!);
      fb[k * nMels + m] = Math.max(0, Math.min(down, up));
    }
  }
  return fb;
}

/** A reusable front-end for one set of options (FFT plan, window and filter bank built once). */
export class MelSpectrogram {
  private readonly fft: RealFft;
  private readonly window: Float64Array;
  /** The filter bank as sparse rows: band m's non-zero weights are w[off[m] .. off[m+1]), for bins lo[m] on. */
  private readonly w: Float64Array;
  private readonly off: Int32Array;
  private readonly lo: Int32Array;
  private readonly frame: Float64Array;
  private readonly spec: Float64Array;
  readonly nFreqs: number;
  /** The SIMD kernel's view of these tables (power 2, even n_fft with radices 2–5), else undefined: JS. */
  private readonly simd?: SimdMelPlan;

  constructor(readonly o: MelOptions) {
    const { nFft, hop, nMels, sampleRate, fmin, fmax } = o;
    if (!(nFft >= 2 && Number.isInteger(nFft))) throw new Error(`n_fft must be an integer ≥ 2, got ${nFft}`);
    if (!(hop >= 1 && Number.isInteger(hop))) throw new Error(`hop must be a positive integer, got ${hop}`);
    if (!(nMels >= 1 && Number.isInteger(nMels))) throw new Error(`n_mels must be a positive integer, got ${nMels}`);
    if (!(fmin >= 0 && fmax > fmin && fmax <= sampleRate / 2)) throw new Error(`need 0 ≤ fmin < fmax ≤ sample_rate/2, got fmin ${fmin}, fmax ${fmax} at ${sampleRate} Hz`);
    this.fft = new RealFft(nFft);
    const nf = (this.nFreqs = this.fft.bins);
    this.window = Float64Array.from({ length: nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft));
    const fb = melFilterbank(nf, fmin, fmax, nMels, sampleRate, o.warp);
    this.lo = new Int32Array(nMels);
    this.off = new Int32Array(nMels + 1);
    const weights: number[] = [];
    for (let m = 0; m < nMels; m++) {
      let lo = nf;
      let hi = -1;
      for (let k = 0; k < nf; k++) if (fb[k * nMels + m]! > 0) ((lo = Math.min(lo, k)), (hi = k));
      this.lo[m] = lo;
      for (let k = lo; k <= hi; k++) weights.push(fb[k * nMels + m]!);
      this.off[m + 1] = weights.length;
    }
    this.w = Float64Array.from(weights);
    this.frame = new Float64Array(nFft);
    this.spec = new Float64Array(nf);
    const plan = (o.power ?? 2) === 2 ? this.fft.simdPlan() : undefined;
    if (plan) this.simd = { nFft, hop, nMels, window: this.window, ...plan, w: this.w, off: this.off, lo: this.lo };
  }

  /** Frames a signal of n samples yields (centred). */
  frameCount(n: number): number {
    const pad = Math.floor(this.o.nFft / 2);
    return 1 + Math.floor((n + 2 * pad - this.o.nFft) / this.o.hop);
  }

  /** Mel power (or magnitude) spectrogram of a mono signal: in WebAssembly SIMD where it can, else JS (identical numbers). */
  compute(x: Float32Array, o: { simd?: boolean } = {}): Spectrogram {
    const { nFft, hop, nMels } = this.o;
    const power = this.o.power ?? 2;
    const pad = Math.floor(nFft / 2);
    if (x.length <= pad) throw new Error(`signal of ${x.length} samples is too short for n_fft ${nFft} (reflect padding needs more than ${pad})`);
    const frames = this.frameCount(x.length);
    if (this.simd && o.simd !== false) return { data: stftMel(this.simd, x, frames), nMels, frames };
    const n = x.length;
    const { frame, spec, window, w, off, lo } = this;
    const out = new Float32Array(nMels * frames);
    for (let t = 0; t < frames; t++) {
      const s0 = t * hop - pad;
      if (s0 >= 0 && s0 + nFft <= n) for (let i = 0; i < nFft; i++) frame[i] = x[s0 + i]! * window[i]!;
      else {
        for (let i = 0; i < nFft; i++) {
          const j = s0 + i;
          frame[i] = x[j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j]! * window[i]!; // reflect
        }
      }
      this.fft.power(frame, spec);
      if (power !== 2) for (let k = 0; k < spec.length; k++) spec[k] = Math.pow(spec[k]!, power / 2);
      for (let m = 0; m < nMels; m++) {
        let acc = 0;
        for (let i = off[m]!, k = lo[m]!, e = off[m + 1]!; i < e; i++, k++) acc += spec[k]! * w[i]!;
        out[m * frames + t] = acc;
      }
    }
    return { data: out, nMels, frames };
  }
}

/**
 * torchaudio AmplitudeToDB: multiplier·log10(max(x, amin)) with multiplier 10 for power (20 for
 * magnitude), ref 1; then floored at max − topDb when topDb is given. In place; returns the array.
 * (One pass for the maximum — log is monotonic, so it is the log of the largest value — and one for
 * log + floor; natural log times multiplier/ln 10.) Runs in WebAssembly SIMD (src/audio/wasm/db.wat: its
 * own float64 ln, within ~1e-15 of Math.log, so the float32 results equal the JS loop's,
 * `amplitudeToDbReference`, but for a rare last-bit rounding tie).
 */
export function amplitudeToDb(x: Float32Array, topDb: number | null = 80, stype: 'power' | 'magnitude' = 'power'): Float32Array {
  const k = (stype === 'power' ? 10 : 20) / Math.LN10;
  const amin = 1e-10;
  if (!x.length) return x;
  const kern = kernels();
  const at = kern.scratch(align(x.length * 4) + 16);
  const v = kern.f32(at, (x.length + 3) & ~3);
  v.set(x);
  v.fill(0, x.length);
  const top = kern.fn.max_f32(at, v.length / 4);
  const big = top > amin ? top : amin;
  const floor = topDb === null ? -Infinity : k * Math.log(big) - topDb;
  kern.fn.db(at, (x.length + 1) >> 1, k, amin, floor);
  x.set(kern.f32(at, x.length));
  release();
  return x;
}

/** amplitudeToDb as a plain JS loop over Math.log: the reference the SIMD kernel is tested against. */
export function amplitudeToDbReference(x: Float32Array, topDb: number | null = 80, stype: 'power' | 'magnitude' = 'power'): Float32Array {
  const k = (stype === 'power' ? 10 : 20) / Math.LN10;
  const amin = 1e-10;
  let big = amin;
  for (let i = 0; i < x.length; i++) if (x[i]! > big) big = x[i]!;
  const floor = topDb === null ? -Infinity : k * Math.log(big) - topDb;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = k * Math.log(v > amin ? v : amin);
    if (x[i]! < floor) x[i] = floor;
  }
  return x;
}
