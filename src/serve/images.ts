/**
 * Uploaded images (and sounds, for a model trained on sounds): the format is sniffed from the
 * bytes (never the file name or Content-Type), the size is checked against the byte and
 * decoded-pixel limits before any pixel is decoded (decompression bombs) — for a sound, its header
 * and framing are checked and its length bounded — then it is decoded exactly as training decoded
 * it (src/data/decode.ts) into float32 NHWC network input: a sound through the bundle's log-mel
 * front-end, one centred clip of the bundle's duration (as `eval` reads it).
 */
import sharp from 'sharp';
import { inspectAudioBytes, isSound } from '../audio/frontend.js';
import { soundWindows } from '../audio/windows.js';
import type { Preprocess } from '../data/decode.js';
import { decodeToTensorData } from '../data/decode.js';
import type { Sample } from '../data/types.js';
import { badRequest, tooLarge, unsupported } from './errors.js';

export interface ImageLimits {
  /** Largest encoded image, bytes. */
  maxImageBytes: number;
  /** Largest decoded image, width × height. */
  maxPixels: number;
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'tiff';

const startsWith = (b: Uint8Array, sig: number[], at = 0) => b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);

/** The image format the bytes really are, or undefined. */
export function sniffImage(b: Uint8Array): ImageFormat | undefined {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith(b, [0x42, 0x4d]) && b.length >= 26) return 'bmp';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  return undefined;
}

/** Width and height from the header, without decoding pixels. */
async function dimensions(b: Buffer, format: ImageFormat, name: string): Promise<{ width: number; height: number }> {
  if (format === 'bmp') {
    const headerSize = b.readUInt32LE(14);
    if (headerSize === 12) return { width: b.readUInt16LE(18), height: Math.abs(b.readInt16LE(20)) };
    return { width: Math.abs(b.readInt32LE(18)), height: Math.abs(b.readInt32LE(22)) };
  }
  try {
    const m = await sharp(b, { limitInputPixels: false }).metadata();
    return { width: m.width ?? 0, height: m.height ?? 0 };
  } catch (e) {
    throw badRequest('BAD_IMAGE', `${name}: not a readable ${format} image (${(e as Error).message.trim()})`);
  }
}

/** Check an upload before decoding it: sniffed format, byte size, pixel count. */
export async function checkImage(b: Buffer, name: string, limits: ImageLimits): Promise<ImageFormat> {
  if (b.length === 0) throw badRequest('EMPTY_IMAGE', `${name}: empty upload`);
  if (b.length > limits.maxImageBytes) throw tooLarge('IMAGE_TOO_LARGE', `${name}: ${b.length} bytes, over the ${limits.maxImageBytes}-byte image limit`);
  const format = sniffImage(b);
  if (!format) throw unsupported('NOT_AN_IMAGE', `${name}: not an image (content is none of JPEG, PNG, GIF, WebP, BMP, TIFF)`);
  const { width, height } = await dimensions(b, format, name);
  if (!(width > 0 && height > 0)) throw badRequest('BAD_IMAGE', `${name}: ${format} header gives no size (${width}×${height})`);
  if (width * height > limits.maxPixels) {
    throw tooLarge('TOO_MANY_PIXELS', `${name}: ${width}×${height} = ${width * height} pixels, over the ${limits.maxPixels}-pixel limit`);
  }
  return format;
}

/** Longest sound accepted (seconds, from its header): the front-end reads one clip of it anyway. */
export const MAX_SOUND_SECONDS = 600;

/** Check a sound upload for a sound model: sniffed content, byte size, header/framing, length. */
export function checkSound(b: Buffer, name: string, limits: ImageLimits): void {
  if (b.length === 0) throw badRequest('EMPTY_SOUND', `${name}: empty upload`);
  if (b.length > limits.maxImageBytes) throw tooLarge('SOUND_TOO_LARGE', `${name}: ${b.length} bytes, over the ${limits.maxImageBytes}-byte upload limit`);
  if (!isSound(b)) {
    const what = sniffImage(b) ? `a ${sniffImage(b)} image` : 'none of WAV, FLAC, Ogg Vorbis/Opus, MP3';
    throw unsupported('NOT_A_SOUND', `${name}: this model reads sounds, and the upload is ${what}`);
  }
  const info = inspectAudioBytes(b);
  if ('reason' in info) throw badRequest('BAD_SOUND', `${name}: ${info.reason}`);
  if (info.seconds > MAX_SOUND_SECONDS) throw tooLarge('SOUND_TOO_LONG', `${name}: ${info.seconds.toFixed(1)} s, over the ${MAX_SOUND_SECONDS}-s limit`);
}

/** Checked, then decoded as training did: float32 NHWC (H*W*3). */
export async function decodeUpload(b: Buffer, name: string, pre: Preprocess, limits: ImageLimits): Promise<Float32Array> {
  if (pre.audio) checkSound(b, name, limits);
  else if (isSound(b)) throw unsupported('NOT_AN_IMAGE', `${name}: a sound file, but this model reads images`);
  else await checkImage(b, name, limits);
  const sample: Sample = { id: name, label: 0, split: 'test', kind: 'encoded', load: async () => b };
  try {
    return await decodeToTensorData(sample, pre);
  } catch (e) {
    throw badRequest(pre.audio ? 'BAD_SOUND' : 'BAD_IMAGE', (e as Error).message);
  }
}

/** Most sliding windows one long sound may become (each is a network row). */
export const MAX_SOUND_WINDOWS = 64;

/**
 * An upload as network rows: one for an image or a short sound; for a long sound (> 1.5 clips)
 * its sliding clip-length windows, as `predict` reads it — the caller averages their probabilities.
 */
export async function decodeUploadRows(b: Buffer, name: string, pre: Preprocess, limits: ImageLimits): Promise<Float32Array[]> {
  if (!pre.audio) return [await decodeUpload(b, name, pre, limits)];
  checkSound(b, name, limits);
  const windows = await soundWindows(b, pre.audio);
  if (!windows) return [await decodeUpload(b, name, pre, limits)];
  if (windows.length > MAX_SOUND_WINDOWS) throw tooLarge('SOUND_TOO_LONG', `${name}: ${windows.length} windows of ${pre.audio.duration} s, over the ${MAX_SOUND_WINDOWS}-window limit`);
  try {
    return await Promise.all(windows.map((load) => decodeToTensorData({ id: name, label: 0, split: 'test', kind: 'encoded', load }, pre)));
  } catch (e) {
    throw badRequest('BAD_SOUND', (e as Error).message);
  }
}
