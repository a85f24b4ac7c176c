/**
 * Sliding windows over long sounds (`predict`): a file longer than LONG_CLIPS clips is decoded
 * once, brought to the front-end's rate and cut into clip-length windows, evenly spaced from its
 * start to its end with a hop of at most half a clip. Each window is handed on as a float32 WAV at
 * that rate — exactly those samples; the front-end then reads it like any clip, with no
 * resampling, padding or cropping — and the caller averages the model's probabilities over the
 * windows. Shorter files go through the front-end whole (centred pad/crop), exactly as in training.
 */
import { encodeWav } from './wav.js';
import { checkContainer } from './containers.js';
import { loadWaveform, type AudioFrontend } from './frontend.js';

/** A sound is "long" (windowed) when it lasts more than this many clips. */
export const LONG_CLIPS = 1.5;

/** Start offsets of windows of `w` samples over `n`: [0] when the sound fits, else 0 … n − w with a hop ≤ w/2. */
export function windowOffsets(n: number, w: number): number[] {
  if (!(w > 0)) throw new Error(`window length must be positive, got ${w}`);
  if (n <= w) return [0];
  const count = 1 + Math.ceil((n - w) / (w / 2));
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - w)) / (count - 1)));
}

/**
 * The windows of a long sound file, each a loader of a float32 WAV at the front-end's rate; undefined
 * when the bytes are no long sound (a short one, an image, a file that does not decode: the
 * front-end then reads, or rejects, the file whole with its usual reason).
 */
export async function soundWindows(bytes: Uint8Array, fe: AudioFrontend): Promise<(() => Promise<Buffer>)[] | undefined> {
  const w = Math.round(fe.duration * fe.sampleRate);
  let x: Float32Array;
  try {
    const info = checkContainer(bytes);
    if (info.frames > 0 && info.frames / info.sampleRate <= LONG_CLIPS * fe.duration) return undefined; // header says short: no decode
    x = await loadWaveform(bytes, fe.sampleRate);
  } catch {
    return undefined;
  }
  if (x.length <= LONG_CLIPS * w) return undefined;
  return windowOffsets(x.length, w).map((at) => async () => encodeWav([x.subarray(at, at + w)], { sampleRate: fe.sampleRate, encoding: 'float' }));
}
