/** Small PNG thumbnails of dataset samples (encoded files or raw pixels) for reports. */
import sharp from 'sharp';
import { decodeToRgb } from '../data/decode.js';
import type { Sample } from '../data/types.js';
import { audioFrontend, isSound } from '../audio/frontend.js';

/** What a thumbnail needs of a sample: its id and a way to read its pixels. */
export type ImageSource = Pick<Sample, 'id' | 'load' | 'kind' | 'raw'>;

/**
 * A size×size PNG of the sample: shorter side scaled to `size`, centre cropped, alpha flattened
 * (the same decoder as training, so EXIF rotation, BMP and raw pixels all work). Errors name the sample.
 */
export async function thumbnailPng(src: ImageSource, size = 96): Promise<Buffer> {
  // decodeToRgb reads only id/load/kind/raw; label and split are placeholders.
  let bytes: Buffer;
  try {
    bytes = await src.load();
  } catch (e) {
    throw new Error(`${src.id}: cannot read (${(e as Error).message})`, { cause: e }); // as decodeToRgb words it
  }
  const sample: Sample = { id: src.id, load: async () => bytes, kind: src.kind, raw: src.raw, label: -1, split: 'test' };
  // A sound is pictured as its log-mel spectrogram (the default front-end: 16 kHz, 128 mels, 1 s).
  const audio = src.kind === 'encoded' && isSound(bytes) ? { audio: audioFrontend() } : {};
  const rgb = await decodeToRgb(sample, { size: [size, size], resize: 'center-crop', cropFraction: 1, mean: [0, 0, 0], std: [1, 1, 1], ...audio });
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}
