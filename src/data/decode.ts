/**
 * Decode one sample into network input: sharp does EXIF rotation, alpha removal, colour
 * conversion to 8-bit sRGB and resizing; the result is a float32 NHWC slice (H*W*3).
 *
 * Alpha: transparent pixels are flattened onto WHITE (how a transparent PNG looks on a web page
 * or document, which is where such images usually come from).
 */
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp.js';
import { pngToRgbSquash } from './png.js';
import { checkView, colourView, cropOf, cropPlan, isFlipped, mirrorRgb, quarterTurns, rotateRgb, type AugmentView } from './augment.js';
import type { Sample } from './types.js';
import { audioToRgb, frontendKey, isSound, type AudioFrontend } from '../audio/frontend.js';
import { notSoundReason } from '../audio/containers.js';
import { isAudioView } from '../audio/augment.js';
import { timed } from '../util/profile.js';

export interface Preprocess {
  /** H, W of the network input. */
  size: [number, number];
  /** squash: stretch to size. center-crop: resize the shorter side to size/cropFraction, then crop the centre. */
  resize: 'squash' | 'center-crop';
  /** Default 0.875 (only used by center-crop). */
  cropFraction?: number;
  /** out = (px/255 - mean)/std; mean 0, std 1 gives [0,1]. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Sound files: the log-mel front-end that turns them into an image (src/audio/frontend.ts). */
  audio?: AudioFrontend;
}

/** Colour that transparent pixels are flattened onto. */
export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;
export const DEFAULT_CROP_FRACTION = 0.875;

/** Stable JSON for a Preprocess: fixed key order, defaults filled in, unused fields dropped. */
export function preprocessKey(p: Preprocess): string {
  const norm: Record<string, unknown> = { size: [...p.size], resize: p.resize };
  if (p.resize === 'center-crop') norm.cropFraction = p.cropFraction ?? DEFAULT_CROP_FRACTION;
  norm.mean = [...p.mean];
  norm.std = [...p.std];
  if (p.audio) norm.audio = frontendKey(p.audio);
  return JSON.stringify(norm);
}

function checkPreprocess(p: Preprocess): { h: number; w: number; cf: number } {
  const [h, w] = p.size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new Error(`bad preprocess size ${h}×${w}`);
  const cf = p.cropFraction ?? DEFAULT_CROP_FRACTION;
  if (!(cf > 0 && cf <= 1)) throw new Error(`cropFraction must be in (0, 1], got ${cf}`);
  if (p.std.some((s) => !Number.isFinite(s) || s === 0)) throw new Error(`preprocess std must be non-zero, got ${p.std}`);
  return { h, w, cf };
}

/** A sharp pipeline reading the sample's pixels (raw, BMP via our decoder, or encoded). */
function openImage(sample: Sample, bytes: Buffer): sharp.Sharp {
  if (sample.kind === 'raw') {
    const r = sample.raw;
    if (!r) throw new Error('raw sample without geometry');
    const expected = r.width * r.height * r.channels;
    if (bytes.length !== expected) throw new Error(`raw pixels: expected ${expected} bytes, got ${bytes.length}`);
    return sharp(bytes, { raw: { width: r.width, height: r.height, channels: r.channels } });
  }
  if (isBmp(bytes)) {
    const bmp = decodeBmp(bytes);
    return sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: bmp.channels } });
  }
  // 'truncated' fails on cut-off files but tolerates recoverable warnings
  // (e.g. "extraneous bytes before marker"), which are common in scraped datasets.
  return sharp(bytes, { failOn: 'truncated' }).rotate();
}

/**
 * Decode, orient, flatten, convert to sRGB and resize: 8-bit interleaved RGB, size H×W.
 * `view` (src/data/augment.ts) picks an augmented view; 'none' (default) is the plain image.
 * Errors name the sample and the reason.
 */
export async function decodeToRgb(sample: Sample, pre: Preprocess, view?: AugmentView): Promise<Buffer> {
  const { h, w, cf } = checkPreprocess(pre);
  const v = checkView(view);
  const corner = cropOf(v);
  let bytes: Buffer;
  try {
    bytes = await sample.load();
  } catch (e) {
    throw new Error(`${sample.id}: cannot read (${(e as Error).message})`, { cause: e });
  }
  if (pre.audio || isSound(bytes)) return decodeSound(sample, bytes, pre, h, w, v);
  if (v !== 'none' && isAudioView(v)) throw new Error(`${sample.id}: augmentation view "${v}" is for sounds`);
  try {
    // Small PNGs: our decoder + libvips' enlargement reproduced byte for byte (src/data/png.ts), else sharp.
    const fast = sample.kind === 'encoded' && !corner && pre.resize === 'squash' ? timed('png-fast', () => pngToRgbSquash(bytes, h, w)) : null;
    const data = fast ?? (await sharpRgb(sample, bytes, pre, h, w, cf, corner));
    if (isFlipped(v)) mirrorRgb(data, h, w);
    colourView(data, v);
    const q = quarterTurns(v);
    return q ? rotateRgb(data, h, w, q) : data;
  } catch (e) {
    const msg = (e as Error).message.trim().replace(/\s+/g, ' ');
    throw new Error(`${sample.id}: cannot decode image (${msg})`, { cause: e });
  }
}

/**
 * The sharp pipeline: orient, flatten onto white, sRGB, resize (and the view's crop), raw RGB H×W.
 * Exported for the tests that prove the PNG fast path gives the same bytes.
 */
export async function sharpRgb(sample: Sample, bytes: Buffer, pre: Preprocess, h: number, w: number, cf: number, corner: ReturnType<typeof cropOf>): Promise<Buffer> {
  let img = openImage(sample, bytes).flatten({ background: ALPHA_BACKGROUND }).toColourspace('srgb');
  if (corner) {
    const plan = cropPlan(corner, pre, h, w, cf);
    img = img.resize(plan.resize.width, plan.resize.height, { fit: plan.resize.fit, position: 'centre' }).extract(plan.extract);
  } else if (pre.resize === 'squash') {
    img = img.resize(w, h, { fit: 'fill' });
  } else {
    // Cover an (H/cf)×(W/cf) box (shorter side scaled to size/cf, centred), then take the central H×W.
    const rw = Math.max(w, Math.round(w / cf));
    const rh = Math.max(h, Math.round(h / cf));
    img = img
      .resize(rw, rh, { fit: 'cover', position: 'centre' })
      .extract({ left: Math.floor((rw - w) / 2), top: Math.floor((rh - h) / 2), width: w, height: h });
  }
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== w || info.height !== h || data.length !== h * w * 3) {
    throw new Error(`unexpected decoder output ${info.width}×${info.height}×${info.channels}`);
  }
  return data;
}

/** A sound file through the model's audio front-end (its log-mel image at the network size). */
async function decodeSound(sample: Sample, bytes: Buffer, pre: Preprocess, h: number, w: number, view: AugmentView): Promise<Buffer> {
  if (!pre.audio) throw new Error(`${sample.id}: a sound file, but this model reads images (train on a folder of sounds for an audio model)`);
  if (!isSound(bytes)) throw new Error(`${sample.id}: cannot decode sound (${notSoundReason(bytes)}; this model reads sounds)`);
  if (!isAudioView(view)) throw new Error(`${sample.id}: augmentation view "${view}" is for images`);
  try {
    return await audioToRgb(bytes, pre.audio, [h, w], view);
  } catch (e) {
    throw new Error(`${sample.id}: cannot decode sound (${(e as Error).message})`, { cause: e });
  }
}

/** 8-bit RGB (H*W*3) → float32 with (px/255 - mean)/std per channel. */
export function normalizeRgb(rgb: Uint8Array, pre: Preprocess): Float32Array {
  const out = new Float32Array(rgb.length);
  const scale = pre.std.map((s) => 1 / (255 * s));
  const offset = pre.mean.map((m, c) => m / pre.std[c]!);
  for (let i = 0; i < rgb.length; i += 3) {
    out[i] = rgb[i]! * scale[0]! - offset[0]!;
    out[i + 1] = rgb[i + 1]! * scale[1]! - offset[1]!;
    out[i + 2] = rgb[i + 2]! * scale[2]! - offset[2]!;
  }
  return out;
}

/** A batch as float32 network input: uint8 pixels are normalised here, float32 passes through. */
export function floatBatch(batch: Float32Array | Uint8Array, pre: Preprocess): Float32Array {
  return batch instanceof Uint8Array ? normalizeRgb(batch, pre) : batch;
}

/** One image (augmented `view`, default the plain one) as network input: float32 NHWC without the batch axis (H*W*3). */
export async function decodeToTensorData(sample: Sample, pre: Preprocess, view?: AugmentView): Promise<Float32Array> {
  const rgb = await decodeToRgb(sample, pre, view);
  return timed('normalise', () => normalizeRgb(rgb, pre));
}
