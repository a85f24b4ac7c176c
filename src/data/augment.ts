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

/** Image views, or a sound's views (src/audio/augment.ts). */
export type AugmentView = (typeof AUGMENT_VIEWS)[number] | AudioView;

/** Zoom used by the crop views when the preprocess has no crop fraction below 1. */
export const VIEW_ZOOM = 0.875;

export function isAugmentView(v: unknown): v is AugmentView {
  return (typeof v === 'string' && (AUGMENT_VIEWS as readonly string[]).includes(v)) || isAudioView(v);
}

/** `v` as a view name (undefined → 'none'); anything else is an error listing the known views. */
export function checkView(v: string | undefined): AugmentView {
  if (v === undefined) return 'none';
  if (!isAugmentView(v)) throw new Error(`unknown augmentation view "${v}"; known views: ${AUGMENT_VIEWS.join(', ')}; for sounds: ${AUDIO_VIEWS.join(', ')}`);
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
