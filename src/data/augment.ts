/**
 * A fixed, named set of deterministic augmented views (DESIGN §2 "cut-point caching"): because
 * every view is a pure function of the image, its backbone activations can be cached like the
 * plain ones, and training picks a cached view per epoch instead of augmenting on the fly.
 *
 * - `none`: the plain preprocessed image (exactly what `decodeToRgb` gives without a view).
 * - `flip`: the plain view mirrored left↔right, pixel for pixel.
 * - `crop-tl|tr|bl|br|c`: a zoom into the top-left / top-right / bottom-left / bottom-right corner
 *   or the centre of what the plain view shows, covering a fraction `z` of its width and height
 *   (`z` = the preprocess's crop fraction, 0.875 when it has none or it is 1). For `squash`
 *   preprocessing that is "stretch to size/z, take that corner at the network size"; for
 *   `center-crop` the plain view's field (the central crop) is enlarged by 1/z the same way.
 * - `crop-…-flip`: that crop, mirrored.
 *
 * `AUGMENT_VIEWS` is ordered so that its first N views are a sensible set for `--augment N`:
 * the plain view first, then its mirror, then crops alternating unflipped/flipped at opposite
 * corners (N = 6 covers all four corners, N = 8 adds the centre zoom both ways). Mirroring
 * assumes classes that look the same mirrored (photos); for text or digits choose views explicitly.
 *
 * `PIXEL_VIEWS` are not part of that order (they change what a class looks like too much for
 * supervised training); self-supervised pretraining (`graft pretrain`) asks for them by name:
 * - `rot90|rot180|rot270`: the plain view turned by that many degrees counter-clockwise
 *   (square inputs only) — rotation prediction's four classes with `none`.
 * - `grey`: luma (Rec. 601) in all three channels.
 * - `jitter-a|jitter-b`: fixed colour jitter (torchvision ColorJitter's operations in its
 *   order: brightness factor, contrast blended with the image's mean grey, saturation blended
 *   with each pixel's grey): a = brighter, flatter, paler (1.25, 0.7, 0.6); b = darker, harder,
 *   more saturated (0.75, 1.4, 1.4).
 */
import type { Preprocess } from './decode.js';
import { AUDIO_VIEWS, isAudioView, type AudioView } from '../audio/augment.js';

export const AUGMENT_VIEWS = [
  'none',
  'flip',
  'crop-tl',
  'crop-br-flip',
  'crop-tr-flip',
  'crop-bl',
  'crop-c',
  'crop-c-flip',
  'crop-tl-flip',
  'crop-br',
  'crop-tr',
  'crop-bl-flip',
] as const;

/** Rotations and colour changes for self-supervised pretraining (see the module comment). */
export const PIXEL_VIEWS = ['rot90', 'rot180', 'rot270', 'grey', 'jitter-a', 'jitter-b'] as const;
export type PixelView = (typeof PIXEL_VIEWS)[number];

/** Image views, or a sound's views (src/audio/augment.ts). */
export type AugmentView = (typeof AUGMENT_VIEWS)[number] | PixelView | AudioView;

/** Zoom used by the crop views when the preprocess has no crop fraction below 1. */
export const VIEW_ZOOM = 0.875;

export function isAugmentView(v: unknown): v is AugmentView {
  return (typeof v === 'string' && ((AUGMENT_VIEWS as readonly string[]).includes(v) || (PIXEL_VIEWS as readonly string[]).includes(v))) || isAudioView(v);
}

/** `v` as a view name (undefined → 'none'); anything else is an error listing the known views. */
export function checkView(v: string | undefined): AugmentView {
  if (v === undefined) return 'none';
  if (!isAugmentView(v)) throw new Error(`unknown augmentation view "${v}"; known views: ${AUGMENT_VIEWS.join(', ')}; for pretraining: ${PIXEL_VIEWS.join(', ')}; for sounds: ${AUDIO_VIEWS.join(', ')}`);
  return v;
}

/** The first `n` views of AUGMENT_VIEWS, or of AUDIO_VIEWS for sounds (what `--augment n` trains on). */
export function firstViews(n: number, audio = false): AugmentView[] {
  const all: readonly AugmentView[] = audio ? AUDIO_VIEWS : AUGMENT_VIEWS;
  if (!Number.isInteger(n) || n < 1 || n > all.length) {
    throw new Error(`--augment takes a number of views from 1 to ${all.length}${audio ? ' for sounds' : ''}, got ${n}`);
  }
  return all.slice(0, n);
}

/** Whether the view is mirrored after its geometry is applied. */
export function isFlipped(v: AugmentView): boolean {
  return v === 'flip' || (v.startsWith('crop-') && v.endsWith('-flip'));
}

/** The crop corner of a view (undefined for `none` and `flip`). */
export function cropOf(v: AugmentView): 'tl' | 'tr' | 'bl' | 'br' | 'c' | undefined {
  const m = /^crop-(tl|tr|bl|br|c)(?:-flip)?$/.exec(v);
  return m ? (m[1] as 'tl' | 'tr' | 'bl' | 'br' | 'c') : undefined;
}

/** How to cut a crop view out of the image: resize to `resize` (fit), then take `extract`. */
export interface CropPlan {
  resize: { width: number; height: number; fit: 'fill' | 'cover' };
  extract: { left: number; top: number; width: number; height: number };
}

/**
 * The geometry of crop view `corner` for an H×W network input under `pre` (cf: its checked crop
 * fraction). The plain view's field is F = (W/z, H/z) pixels after resizing; the window of W×H
 * sits at F's corner or centre.
 */
export function cropPlan(corner: 'tl' | 'tr' | 'bl' | 'br' | 'c', pre: Preprocess, h: number, w: number, cf: number): CropPlan {
  const z = cf < 1 ? cf : VIEW_ZOOM;
  const fw = Math.max(w + 1, Math.round(w / z));
  const fh = Math.max(h + 1, Math.round(h / z));
  let rw = fw;
  let rh = fh;
  let fx = 0;
  let fy = 0;
  if (pre.resize === 'center-crop') {
    // Plain: cover (W/cf)×(H/cf), keep the centre W×H. Zoomed: the same with every size scaled by 1/z.
    rw = Math.max(fw, Math.round(w / (cf * z)));
    rh = Math.max(fh, Math.round(h / (cf * z)));
    fx = Math.floor((rw - fw) / 2);
    fy = Math.floor((rh - fh) / 2);
  }
  const dx = corner === 'c' ? Math.floor((fw - w) / 2) : corner.endsWith('r') ? fw - w : 0;
  const dy = corner === 'c' ? Math.floor((fh - h) / 2) : corner.startsWith('b') ? fh - h : 0;
  return {
    resize: { width: rw, height: rh, fit: pre.resize === 'squash' ? 'fill' : 'cover' },
    extract: { left: fx + dx, top: fy + dy, width: w, height: h },
  };
}

/** Mirror interleaved RGB (H×W×3) left↔right, in place. */
export function mirrorRgb(rgb: Uint8Array, h: number, w: number): void {
  if (rgb.length !== h * w * 3) throw new Error(`mirrorRgb: ${rgb.length} bytes is not ${h}×${w}×3`);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let a = row, b = row + (w - 1) * 3; a < b; a += 3, b -= 3) {
      for (let c = 0; c < 3; c++) {
        const t = rgb[a + c]!;
        rgb[a + c] = rgb[b + c]!;
        rgb[b + c] = t;
      }
    }
  }
}

/** Quarter turns (counter-clockwise) of a rotation view; 0 for every other view. */
export function quarterTurns(v: AugmentView): 0 | 1 | 2 | 3 {
  return v === 'rot90' ? 1 : v === 'rot180' ? 2 : v === 'rot270' ? 3 : 0;
}

/** Interleaved RGB (H×W×3) turned `q` quarter turns counter-clockwise (a new buffer; 90° and 270° need H = W). */
export function rotateRgb(rgb: Uint8Array, h: number, w: number, q: 0 | 1 | 2 | 3): Buffer {
  if (rgb.length !== h * w * 3) throw new Error(`rotateRgb: ${rgb.length} bytes is not ${h}×${w}×3`);
  if (q % 2 === 1 && h !== w) throw new Error(`rotation views need a square input, not ${h}×${w}`);
  const out = Buffer.allocUnsafe(rgb.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Destination (y', x') of source (y, x) after q counter-clockwise quarter turns.
      const [ty, tx] = q === 0 ? [y, x] : q === 1 ? [w - 1 - x, y] : q === 2 ? [h - 1 - y, w - 1 - x] : [x, h - 1 - y];
      const s = (y * w + x) * 3;
      const d = (ty * w + tx) * 3;
      out[d] = rgb[s]!;
      out[d + 1] = rgb[s + 1]!;
      out[d + 2] = rgb[s + 2]!;
    }
  }
  return out;
}

const JITTER: Record<'jitter-a' | 'jitter-b', { brightness: number; contrast: number; saturation: number }> = {
  'jitter-a': { brightness: 1.25, contrast: 0.7, saturation: 0.6 },
  'jitter-b': { brightness: 0.75, contrast: 1.4, saturation: 1.4 },
};

const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;
const clampByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Apply the colour part of view `v` (grey, jitter) to interleaved RGB in place; other views leave it as it is. */
export function colourView(rgb: Uint8Array, v: AugmentView): void {
  if (v === 'grey') {
    for (let i = 0; i < rgb.length; i += 3) rgb[i] = rgb[i + 1] = rgb[i + 2] = clampByte(luma(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!));
    return;
  }
  if (v !== 'jitter-a' && v !== 'jitter-b') return;
  const { brightness, contrast, saturation } = JITTER[v];
  const f = new Float32Array(rgb.length);
  let mean = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const r = Math.min(255, rgb[i]! * brightness);
    const g = Math.min(255, rgb[i + 1]! * brightness);
    const b = Math.min(255, rgb[i + 2]! * brightness);
    f[i] = r;
    f[i + 1] = g;
    f[i + 2] = b;
    mean += luma(r, g, b);
  }
  mean /= Math.max(1, rgb.length / 3);
  for (let i = 0; i < rgb.length; i += 3) {
    const r = Math.min(255, Math.max(0, mean + (f[i]! - mean) * contrast));
    const g = Math.min(255, Math.max(0, mean + (f[i + 1]! - mean) * contrast));
    const b = Math.min(255, Math.max(0, mean + (f[i + 2]! - mean) * contrast));
    const y = luma(r, g, b);
    rgb[i] = clampByte(y + (r - y) * saturation);
    rgb[i + 1] = clampByte(y + (g - y) * saturation);
    rgb[i + 2] = clampByte(y + (b - y) * saturation);
  }
}
