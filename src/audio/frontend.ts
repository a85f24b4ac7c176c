/**
 * The audio front-end: a sound file → the image a backbone sees. Decode (WAV, FLAC, Ogg Vorbis/Opus,
 * MP3: src/audio/decode.ts) → down-mix to mono
 * → resample to `sampleRate` → pad/crop to `duration` seconds, centred → log-mel spectrogram
 * (torchaudio's definition, src/audio/mel.ts) → dB with a `topDb` floor → grey levels
 * (v = (dB − (max − topDb)) / topDb, so the loudest cell is white and everything `topDb` below it
 * black; low frequencies at the bottom) → bilinear resize (half-pixel centres) to the backbone's
 * H×W → 8-bit, three identical channels. The result then goes through the backbone's own mean/std
 * like any decoded image. Its parameters live in `Preprocess.audio`, so they are saved in bundles
 * and are part of the feature store's key.
 */
import { downmix } from './wav.js';
import { AUDIO_EXTENSIONS, checkContainer, decodeAudio, sniffSound } from './decode.js';
import { resample } from './resample.js';
import { MelSpectrogram, amplitudeToDb } from './mel.js';
import { specView, vtlpWarp, warpOf, waveView, type AudioView } from './augment.js';

export interface AudioFrontend {
  sampleRate: number;
  nFft: number;
  hop: number;
  nMels: number;
  fmin: number;
  fmax: number;
  /** Clip length in seconds: shorter clips are zero-padded, longer ones cropped, both centred. */
  duration: number;
  topDb: number;
}

/** Front-end settings as given (CLI, recipes): any subset; `duration: 'auto'` is resolved by the loader from the training files. */
export type AudioSettings = Partial<Omit<AudioFrontend, 'duration'>> & { duration?: number | 'auto' };

export const AUDIO_DEFAULTS: AudioFrontend = { sampleRate: 16000, nFft: 400, hop: 160, nMels: 128, fmin: 0, fmax: 8000, duration: 1, topDb: 80 };

export { AUDIO_EXTENSIONS };

/** A complete, checked front-end from partial settings (fmax defaults to sampleRate/2). */
export function audioFrontend(p: Partial<AudioFrontend> = {}): AudioFrontend {
  const sampleRate = p.sampleRate ?? AUDIO_DEFAULTS.sampleRate;
  const fe: AudioFrontend = {
    sampleRate,
    nFft: p.nFft ?? AUDIO_DEFAULTS.nFft,
    hop: p.hop ?? AUDIO_DEFAULTS.hop,
    nMels: p.nMels ?? AUDIO_DEFAULTS.nMels,
    fmin: p.fmin ?? AUDIO_DEFAULTS.fmin,
    fmax: p.fmax ?? sampleRate / 2,
    duration: p.duration ?? AUDIO_DEFAULTS.duration,
    topDb: p.topDb ?? AUDIO_DEFAULTS.topDb,
  };
  if (!Number.isInteger(fe.sampleRate) || fe.sampleRate < 100) throw new Error(`--sample-rate must be an integer ≥ 100 Hz, got ${fe.sampleRate}`);
  if (!(fe.duration > 0)) throw new Error(`--duration must be a positive number of seconds, got ${fe.duration}`);
  if (!(fe.topDb > 0)) throw new Error(`top_db must be positive, got ${fe.topDb}`);
  const samples = Math.round(fe.duration * fe.sampleRate);
  if (samples <= fe.nFft / 2) throw new Error(`--duration ${fe.duration} s is ${samples} samples, too short for --n-fft ${fe.nFft}`);
  melFor(fe); // checks n_fft, hop, n_mels, fmin/fmax
  return fe;
}

/**
 * The front-end for a folder of sounds: `settings` with `duration: 'auto'` resolved to the median
 * length of `seconds` (the training files', from their headers), rounded to the millisecond.
 */
export function resolveFrontend(settings: AudioSettings | undefined, seconds: () => number[]): { fe: AudioFrontend; auto?: { files: number; seconds: number } } {
  if (settings?.duration !== 'auto') return { fe: audioFrontend(settings as Partial<AudioFrontend> | undefined) };
  const s = seconds().filter((x) => x > 0).sort((a, b) => a - b);
  if (!s.length) throw new Error('--duration auto: no training file gives its length in its header; give --duration S');
  const mid = s.length >> 1;
  const median = Math.round((s.length & 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2) * 1000) / 1000;
  try {
    return { fe: audioFrontend({ ...settings, duration: median }), auto: { files: s.length, seconds: median } };
  } catch (e) {
    throw new Error(`--duration auto (median of ${s.length} training files: ${median} s): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The implementation's version, part of the feature-store key: bump it whenever a change moves the
 * front-end's numbers at all (even by rounding), so features cached by an older build are never reused.
 * 1: float64 JS throughout. 2: WebAssembly SIMD kernels — the polyphase resampler in float32 taps
 * and sums (moves samples by ~1e-7); STFT + mel in float64, bit-identical to 1; dB with the kernel's
 * own ln (equal to 1's float32 results in every value tested).
 */
export const FRONTEND_VERSION = 2;

/** Stable JSON of a front-end (fixed key order) and the implementation's version, for preprocessKey. */
export function frontendKey(fe: AudioFrontend): string {
  return JSON.stringify([fe.sampleRate, fe.nFft, fe.hop, fe.nMels, fe.fmin, fe.fmax, fe.duration, fe.topDb, `v${FRONTEND_VERSION}`]);
}

const plans = new Map<string, MelSpectrogram>();
function melFor(fe: AudioFrontend, alpha = 1): MelSpectrogram {
  const k = frontendKey(fe) + alpha;
  let m = plans.get(k);
  if (!m) {
    const warp = alpha === 1 ? undefined : (f: number) => vtlpWarp(f, alpha, fe.sampleRate / 2);
    m = new MelSpectrogram({ sampleRate: fe.sampleRate, nFft: fe.nFft, hop: fe.hop, nMels: fe.nMels, fmin: fe.fmin, fmax: fe.fmax, warp });
    if (plans.size > 16) plans.clear();
    plans.set(k, m);
  }
  return m;
}

/** Decode + mono + resample: the waveform at the front-end's rate. */
export async function loadWaveform(bytes: Uint8Array, sampleRate: number): Promise<Float32Array> {
  const pcm = await decodeAudio(bytes);
  return resample(downmix(pcm), pcm.sampleRate, sampleRate);
}

/** Zero-pad or crop to n samples, keeping the centre. */
export function fixLength(x: Float32Array, n: number): Float32Array {
  if (x.length === n) return x;
  const out = new Float32Array(n);
  if (x.length < n) out.set(x, Math.floor((n - x.length) / 2));
  else out.set(x.subarray(Math.floor((x.length - n) / 2), Math.floor((x.length - n) / 2) + n));
  return out;
}

/** Log-mel (dB) of a waveform already at the front-end's rate and length. */
export function logMel(x: Float32Array, fe: AudioFrontend, view: AudioView = 'none'): { data: Float32Array; nMels: number; frames: number } {
  const spec = melFor(fe, warpOf(view)).compute(x);
  amplitudeToDb(spec.data, fe.topDb);
  specView(spec, view);
  return spec;
}

/** dB spectrogram (nMels × frames) → grey levels in [0,1], high frequencies in row 0. */
export function toGrey(spec: { data: Float32Array; nMels: number; frames: number }, topDb: number): Float32Array {
  const { data, nMels, frames } = spec;
  let max = -Infinity;
  let min = Infinity;
  for (const v of data) ((max = Math.max(max, v)), (min = Math.min(min, v)));
  const out = new Float32Array(nMels * frames);
  if (!(max - min > 1e-6)) return out; // silence (or a constant): black
  const floor = max - topDb;
  for (let m = 0; m < nMels; m++) {
    const src = m * frames;
    const dst = (nMels - 1 - m) * frames;
    for (let t = 0; t < frames; t++) out[dst + t] = Math.max(0, (data[src + t]! - floor) / topDb);
  }
  return out;
}

/** One axis of a half-pixel bilinear resize: for each output index, the two source indices and the weight of the second. */
function axis(n: number, sn: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.min(sn - 1, Math.max(0, ((i + 0.5) * sn) / n - 0.5));
    i0[i] = Math.floor(x);
    i1[i] = Math.min(sn - 1, i0[i]! + 1);
    f[i] = x - i0[i]!;
  }
  return { i0, i1, f };
}

/**
 * Bilinear resize with half-pixel centres (ONNX Resize linear / half_pixel), clamped at the edges.
 * Separable: each source row is interpolated along x once, then output rows blend two of those.
 */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  const ys = axis(h, sh);
  const { i0: x0, i1: x1, f: fx } = axis(w, sw);
  const rows = new Float64Array(sh * w);
  for (let r = 0; r < sh; r++) {
    const s = r * sw;
    const d = r * w;
    for (let x = 0; x < w; x++) rows[d + x] = src[s + x0[x]!]! * (1 - fx[x]!) + src[s + x1[x]!]! * fx[x]!;
  }
  for (let y = 0; y < h; y++) {
    const a = ys.i0[y]! * w;
    const b = ys.i1[y]! * w;
    const fy = ys.f[y]!;
    const gy = 1 - fy;
    const o = y * w;
    for (let x = 0; x < w; x++) out[o + x] = rows[a + x]! * gy + rows[b + x]! * fy;
  }
  return out;
}

/** Grey [0,1] H×W → 8-bit RGB (three equal channels). */
export function greyToRgb(grey: Float32Array): Buffer {
  const out = new Uint8Array(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const g = grey[i]! * 255 + 0.5; // Math.round for g ≥ 0; below 0 both clamp to 0, NaN gives 0
    const v = g < 1 ? 0 : g >= 255 ? 255 : g | 0;
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

/** A waveform (at fe.sampleRate, any length) → the backbone's H×W 8-bit RGB input. */
export function waveformToRgb(x: Float32Array, fe: AudioFrontend, size: [number, number], view: AudioView = 'none'): Buffer {
  const clip = waveView(fixLength(x, Math.round(fe.duration * fe.sampleRate)), view, fe.sampleRate);
  const spec = logMel(clip, fe, view);
  return greyToRgb(resizeBilinear(toGrey(spec, fe.topDb), spec.nMels, spec.frames, size[0], size[1]));
}

/** A sound file's bytes → the backbone's H×W 8-bit RGB input. */
export async function audioToRgb(bytes: Uint8Array, fe: AudioFrontend, size: [number, number], view: AudioView = 'none'): Promise<Buffer> {
  return waveformToRgb(await loadWaveform(bytes, fe.sampleRate), fe, size, view);
}

/** Why a sound file cannot be used (header and framing checked, no samples decoded), or its length in seconds (0: the header does not say). */
export function inspectAudioBytes(bytes: Uint8Array): { reason: string } | { seconds: number } {
  try {
    const info = checkContainer(bytes);
    return { seconds: info.frames > 0 ? info.frames / info.sampleRate : 0 };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}

/** True when the bytes are a sound file graft decodes (by content: WAV, FLAC, Ogg Vorbis/Opus, MP3). */
export function isSound(bytes: Uint8Array): boolean {
  return sniffSound(bytes) !== undefined;
}
