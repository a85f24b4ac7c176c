/**
 * Deterministic augmented views of a sound (the audio side of src/data/augment.ts): each view is a
 * pure function of the file, so its backbone rows are cached in the feature store like the image
 * views, and `--augment N` trains on the first N of AUDIO_VIEWS.
 *
 * - `shift-early` / `shift-late`: the clip moved 0.1 s earlier / later (zero-filled).
 * - `vtlp-0.9` / `vtlp-1.1`: vocal-tract-length perturbation (Jaitly & Hinton 2013): the
 *   spectrum's frequency axis warped by α (piecewise linear, fixed above 0.8·Nyquist·min(α,1)/α),
 *   applied through the mel filter bank.
 * - `specaug-a` / `specaug-b`: SpecAugment (Park et al. 2019) — one time mask (≤ 12% of frames) and
 *   one frequency mask (≤ 12% of mel bands) set to the spectrogram's floor, at positions fixed per view.
 * - `noise`: −6 dB gain plus white noise 30 dB below the clip's RMS (seeded).
 * - `speed-0.9` / `speed-1.1`: speed perturbation (Ko et al. 2015): the clip played 0.9× / 1.1×
 *   as fast — pitch and tempo change together — by the anti-aliased resampler, centred again.
 *   After the eight earlier views, so `--augment N` for N ≤ 8 keeps its earlier meaning.
 * - `pitch-up` / `pitch-down`: pitch shift by a whole tone (×9/8 / ×8/9) without a tempo change —
 *   WSOLA time stretch, then the speed change back to the clip's length (src/audio/stretch.ts).
 *   Last, so `--augment N` for N ≤ 10 is unchanged.
 */
import { resample } from './resample.js';
import { pitchShift } from './stretch.js';

export const AUDIO_VIEWS = ['none', 'shift-late', 'vtlp-0.9', 'specaug-a', 'vtlp-1.1', 'shift-early', 'specaug-b', 'noise', 'speed-0.9', 'speed-1.1', 'pitch-up', 'pitch-down'] as const;
export type AudioView = (typeof AUDIO_VIEWS)[number];

export function isAudioView(v: unknown): v is AudioView {
  return typeof v === 'string' && (AUDIO_VIEWS as readonly string[]).includes(v);
}

/** The VTLP warp factor of a view (1 = none). */
export function warpOf(v: AudioView): number {
  return v === 'vtlp-0.9' ? 0.9 : v === 'vtlp-1.1' ? 1.1 : 1;
}

/** Piecewise-linear VTLP warp of a frequency f (Hz) with Nyquist `ny`. */
export function vtlpWarp(f: number, alpha: number, ny: number): number {
  if (alpha === 1) return f;
  const hi = (0.8 * ny * Math.min(alpha, 1)) / alpha;
  if (f <= hi) return f * alpha;
  return ny - ((ny - hi * alpha) / (ny - hi)) * (ny - f);
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Waveform-level views (shift, noise, speed, pitch); others pass through. */
export function waveView(x: Float32Array, v: AudioView, sampleRate: number): Float32Array {
  if (v === 'pitch-up') return pitchShift(x, 9, 8);
  if (v === 'pitch-down') return pitchShift(x, 8, 9);
  if (v === 'speed-0.9' || v === 'speed-1.1') {
    // Read as if recorded at rate·s, resampled back to rate: s× as fast (length/s), then centred in the clip.
    const s = v === 'speed-0.9' ? 0.9 : 1.1;
    const y = resample(x, Math.round(sampleRate * s), sampleRate);
    const out = new Float32Array(x.length);
    if (y.length <= x.length) out.set(y, Math.floor((x.length - y.length) / 2));
    else out.set(y.subarray(Math.floor((y.length - x.length) / 2), Math.floor((y.length - x.length) / 2) + x.length));
    return out;
  }
  if (v === 'shift-early' || v === 'shift-late') {
    const d = Math.round(0.1 * sampleRate) * (v === 'shift-late' ? 1 : -1);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const j = i - d;
      if (j >= 0 && j < x.length) out[i] = x[j]!;
    }
    return out;
  }
  if (v === 'noise') {
    let e = 0;
    for (const s of x) e += s * s;
    const rms = Math.sqrt(e / Math.max(1, x.length));
    const amp = rms * 10 ** (-30 / 20) * Math.sqrt(3); // uniform noise with that RMS
    const r = lcg(x.length);
    return Float32Array.from(x, (s) => 0.5 * s + amp * (2 * r() - 1));
  }
  return x;
}

/** SpecAugment masks on a dB spectrogram (nMels × frames), in place. */
export function specView(spec: { data: Float32Array; nMels: number; frames: number }, v: AudioView): void {
  if (v !== 'specaug-a' && v !== 'specaug-b') return;
  const { data, nMels, frames } = spec;
  const r = lcg(v === 'specaug-a' ? 1 : 2);
  let floor = Infinity;
  for (const d of data) floor = Math.min(floor, d);
  const tw = Math.max(1, Math.floor(r() * 0.12 * frames));
  const t0 = Math.floor(r() * (frames - tw));
  const fw = Math.max(1, Math.floor(r() * 0.12 * nMels));
  const f0 = Math.floor(r() * (nMels - fw));
  for (let m = 0; m < nMels; m++) {
    for (let t = 0; t < frames; t++) if ((t >= t0 && t < t0 + tw) || (m >= f0 && m < f0 + fw)) data[m * frames + t] = floor;
  }
}
