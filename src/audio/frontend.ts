/**
 * The audio front-end: a sound file → the image a backbone sees. Decode (WAV, FLAC, Ogg Vorbis/Opus,
 * MP3: src/audio/decode.ts) → down-mix to mono
 * → resample to `sampleRate` → pad/crop to `duration` seconds, centred → log-mel spectrogram
 * (torchaudio's definition, src/audio/mel.ts) → dB with a `topDb` floor → grey levels
 * (v = (dB − (max − topDb)) / topDb, so the loudest cell is white and everything `topDb` below it
 * black; low frequencies at the bottom) → bilinear resize (half-pixel centres) to the backbone's
 * H×W → 8-bit, three identical channels (src/audio/image.ts). The result then goes through the backbone's own mean/std
 * like any decoded image. Its parameters live in `Preprocess.audio`, so they are saved in bundles
 * and are part of the feature store's key.
 */
import { downmix } from './wav.js';
import { AUDIO_EXTENSIONS, checkContainer, decodeAudio, sniffSound } from './decode.js';
import { resample } from './resample.js';
import { MelSpectrogram, amplitudeToDb } from './mel.js';
import { specView, vtlpWarp, warpOf, waveView, type AudioView } from './augment.js';
import { spectrogramToRgb } from './image.js';

export { toGrey, resizeBilinear, greyToRgb, spectrogramToRgb } from './image.js';

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

/** A waveform (at fe.sampleRate, any length) → the backbone's H×W 8-bit RGB input. */
export function waveformToRgb(x: Float32Array, fe: AudioFrontend, size: [number, number], view: AudioView = 'none'): Buffer {
  const clip = waveView(fixLength(x, Math.round(fe.duration * fe.sampleRate)), view, fe.sampleRate);
  return spectrogramToRgb(logMel(clip, fe, view), fe.topDb, size);
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
