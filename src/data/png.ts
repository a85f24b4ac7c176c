/**
 * A PNG fast path for small images: our own decoder (node:zlib inflate + the five unfilter types)
 * and an enlargement that reproduces, byte for byte, what graft's sharp pipeline
 * (src/data/decode.ts: flatten onto white → sRGB → resize → raw RGB) gives for the same file.
 * sharp costs ~3 ms per call whatever the image size (pipeline set-up); this path costs what the
 * pixels cost, which for a 28×28 digit is a fraction of that.
 *
 * Covered (anything else returns null and the caller uses sharp):
 * - non-interlaced PNGs, 8-bit grey / grey+alpha / RGB / RGBA, palettes of 1–8 bits (with or
 *   without tRNS), and tRNS colour keys on 8-bit grey and RGB;
 * - no iCCP (sharp would colour-manage) and no eXIf (sharp would auto-orient) chunk;
 * - the `squash` resize where both axes are enlarged (or kept): libvips' vips_resize then runs
 *   vips_affine with its bicubic (Catmull–Rom) interpolator — 8-bit fixed-point coefficients
 *   tabulated at 1/64 pixel, centre-sampling offset, edge pixels copied — which is what
 *   `enlargeBicubic` computes, with the same double arithmetic and the same integer rounding.
 * Shrinking goes through lanczos3 in libvips, which is not reproduced here: those images (and
 * every other case above) keep using sharp, so features stay bit-identical either way
 * (test/png.test.ts compares the bytes against sharp on generated PNGs of every colour type).
 */
import { crc32, inflateSync } from 'node:zlib';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Decoded 8-bit pixels, interleaved, channels 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). */
export interface PngPixels {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

interface Header {
  width: number;
  height: number;
  depth: number;
  colour: number;
  palette?: Uint8Array;
  trns?: Uint8Array;
  idat: Uint8Array[];
}

/** Walk the chunks; null for anything the fast path leaves to sharp. Throws only on a broken file. */
function readChunks(bytes: Uint8Array): Header | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  let head: Header | null = null;
  let ended = false;
  while (p + 8 <= bytes.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    const start = p + 8;
    if (start + len + 4 > bytes.length) return null; // truncated: let sharp word the error
    const body = bytes.subarray(start, start + len);
    p = start + len + 4;
    // A bad CRC: libspng decides what it means (an error for critical chunks), so sharp handles the file.
    if (crc32(bytes.subarray(start - 4, start + len)) !== dv.getUint32(start + len)) return null;
    if (type === 'IHDR') {
      if (len !== 13) return null;
      const interlace = body[12];
      if (interlace !== 0 || body[10] !== 0 || body[11] !== 0) return null;
      head = { width: dv.getUint32(start), height: dv.getUint32(start + 4), depth: body[8]!, colour: body[9]!, idat: [] };
    } else if (!head) return null;
    else if (type === 'PLTE') head.palette = body;
    else if (type === 'tRNS') head.trns = body;
    else if (type === 'IDAT') head.idat.push(body);
    else if (type === 'iCCP' || type === 'eXIf' || type === 'acTL') return null;
    else if (type === 'IEND') {
      ended = true;
      break;
    }
  }
  if (!head || !ended || head.idat.length === 0 || head.width < 1 || head.height < 1) return null;
  const { depth, colour } = head;
  const ok = colour === 3 ? [1, 2, 4, 8].includes(depth) && !!head.palette : [0, 2, 4, 6].includes(colour) && depth === 8;
  return ok ? head : null;
}

/** Undo the per-row filters in place over `raw` (rows of 1 filter byte + `stride` bytes). */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    if (f === 0) out.set(raw.subarray(src, src + stride), row);
    else if (f === 1) {
      for (let i = 0; i < stride; i++) out[row + i] = raw[src + i]! + (i >= bpp ? out[row + i - bpp]! : 0);
    } else if (f === 2) {
      for (let i = 0; i < stride; i++) out[row + i] = raw[src + i]! + (y > 0 ? out[prev + i]! : 0);
    } else if (f === 3) {
      for (let i = 0; i < stride; i++) out[row + i] = raw[src + i]! + (((i >= bpp ? out[row + i - bpp]! : 0) + (y > 0 ? out[prev + i]! : 0)) >> 1);
    } else if (f === 4) {
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? out[row + i - bpp]! : 0;
        const b = y > 0 ? out[prev + i]! : 0;
        const c = i >= bpp && y > 0 ? out[prev + i - bpp]! : 0;
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        out[row + i] = raw[src + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
    } else throw new Error(`PNG: bad filter type ${f} on row ${y}`);
  }
  return out;
}

/** Palette indices (1–8 bits) → RGB, or RGBA when the file has a tRNS chunk. */
function expandPalette(rows: Uint8Array, h: Header, stride: number): PngPixels | null {
  const { width, height, depth, palette, trns } = h;
  const n = palette!.length / 3;
  const ch = trns ? 4 : 3;
  const out = new Uint8Array(width * height * ch);
  const per = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * stride + Math.floor(x / per)]!;
      const idx = depth === 8 ? byte : (byte >> (8 - depth * ((x % per) + 1))) & mask;
      if (idx >= n) return null; // an index past the palette: sharp decides
      const o = (y * width + x) * ch;
      out[o] = palette![idx * 3]!;
      out[o + 1] = palette![idx * 3 + 1]!;
      out[o + 2] = palette![idx * 3 + 2]!;
      if (trns) out[o + 3] = idx < trns.length ? trns[idx]! : 255;
    }
  }
  return { width, height, channels: ch, data: out };
}

/** An 8-bit colour key (tRNS on grey or RGB) → an alpha channel: 0 where the pixel matches, else 255. */
function keyToAlpha(px: Uint8Array, ch: 1 | 3, trns: Uint8Array, count: number): Uint8Array | null {
  if (trns.length !== ch * 2) return null;
  const key = ch === 1 ? [trns[1]!] : [trns[1]!, trns[3]!, trns[5]!];
  if ((ch === 1 ? [trns[0]] : [trns[0], trns[2], trns[4]]).some((hi) => hi !== 0)) return null;
  const out = new Uint8Array(count * (ch + 1));
  for (let i = 0; i < count; i++) {
    let same = true;
    for (let c = 0; c < ch; c++) {
      const v = px[i * ch + c]!;
      out[i * (ch + 1) + c] = v;
      if (v !== key[c]) same = false;
    }
    out[i * (ch + 1) + ch] = same ? 0 : 255;
  }
  return out;
}

/** Decode a PNG the fast path covers; null when it does not (the caller falls back to sharp). */
export function decodePng(bytes: Uint8Array, maxPixels = 1 << 22): PngPixels | null {
  if (!isPng(bytes)) return null;
  const h = readChunks(bytes);
  if (!h || h.width * h.height > maxPixels) return null;
  const chans = h.colour === 3 ? 1 : ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[h.colour]!;
  const bitsPerPixel = chans * h.depth;
  const stride = Math.ceil((h.width * bitsPerPixel) / 8);
  let raw: Uint8Array;
  try {
    raw = inflateSync(h.idat.length === 1 ? h.idat[0]! : Buffer.concat(h.idat));
  } catch {
    return null; // corrupt stream: sharp gives the user-facing error
  }
  if (raw.length < h.height * (stride + 1)) return null;
  const rows = unfilter(raw, h.height, stride, Math.max(1, bitsPerPixel >> 3));
  if (h.colour === 3) return expandPalette(rows, h, stride);
  if (h.trns && (h.colour === 0 || h.colour === 2)) {
    const ch = h.colour === 0 ? 1 : 3;
    const data = keyToAlpha(rows, ch, h.trns, h.width * h.height);
    return data ? { width: h.width, height: h.height, channels: (ch + 1) as 2 | 4, data } : null;
  }
  return { width: h.width, height: h.height, channels: chans as 1 | 2 | 3 | 4, data: rows };
}

/** libvips' vips_flatten for 8-bit pixels onto white: (v·a + 255·(255 − a)) / 255, truncated. */
export function flattenOnWhite(px: PngPixels): { channels: 1 | 3; data: Uint8Array } {
  if (px.channels === 1 || px.channels === 3) return { channels: px.channels, data: px.data };
  const ch = (px.channels - 1) as 1 | 3;
  const n = px.width * px.height;
  const out = new Uint8Array(n * ch);
  const src = px.data;
  for (let i = 0; i < n; i++) {
    const a = src[i * (ch + 1) + ch]!;
    const bg = 255 * (255 - a);
    for (let c = 0; c < ch; c++) out[i * ch + c] = Math.trunc((src[i * (ch + 1) + c]! * a + bg) / 255);
  }
  return { channels: ch, data: out };
}

// vips_interpolate_bicubic's table: Catmull–Rom weights at 65 sub-pixel positions (VIPS_TRANSFORM_SCALE
// 64, plus one for round-to-nearest), as 12-bit fixed point (VIPS_INTERPOLATE_SCALE 4096), truncated.
const TSCALE = 64;
const ISHIFT = 12;
const IROUND = 1 << (ISHIFT - 1);
const TABLE: Int32Array = (() => {
  const t = new Int32Array((TSCALE + 1) * 4);
  for (let i = 0; i <= TSCALE; i++) {
    const x = i / TSCALE;
    const cr1 = 1 - x;
    const cr2 = -0.5 * x;
    const cr3 = cr1 * cr2;
    const cone = cr1 * cr3;
    const cfou = x * cr3;
    const cr4 = cfou - cone;
    const ctwo = cr1 - cone + cr4;
    const cthr = x - cfou - cr4;
    t[i * 4] = Math.trunc(cone * 4096);
    t[i * 4 + 1] = Math.trunc(ctwo * 4096);
    t[i * 4 + 2] = Math.trunc(cthr * 4096);
    t[i * 4 + 3] = Math.trunc(cfou * 4096);
  }
  return t;
})();

/**
 * For each output coordinate along one axis: the first of the 4 source taps (clamped later) and
 * the table row. Mirrors vips_affine_gen: input coordinate in the bordered image =
 * o·(1/scale) accumulated step by step, + 0.5 (centre offset) + 1 (border shift) + 1 (window offset);
 * the taps are floor(x) − 1 … floor(x) + 2 in that image, which has 2 border pixels.
 */
function axisPlan(outSize: number, inv: number, accumulate: boolean): { first: Int32Array; row: Int32Array } {
  const first = new Int32Array(outSize);
  const row = new Int32Array(outSize);
  let x = inv * 0 - -0.5 + 1;
  for (let o = 0; o < outSize; o++) {
    if (!accumulate) x = inv * o - -0.5 + 1;
    const sx = Math.trunc(x * TSCALE * 2);
    row[o] = ((sx & (TSCALE * 2 - 1)) + 1) >> 1;
    first[o] = Math.trunc(x) - 1 - 2; // back to source pixel indices (border of 2)
    if (accumulate) x += inv;
  }
  return { first, row };
}

/** vips__transform_calc_inverse for the matrix [a 0; 0 d]: 1/det, then ia = d/det, id = a/det. */
function inverse(a: number, d: number): [number, number] {
  const t = 1 / (a * d - 0 * 0);
  return [t * d, t * a];
}

/**
 * vips_resize's enlargement of 8-bit pixels (both axes ≥ 1×, kernel lanczos3 → bicubic affine),
 * to exactly outW×outH; `ch` interleaved channels (`greyToRgb`: one grey channel out as RGB). Returns null when the affine's own output size
 * would not be outW×outH (sharp then decides), which the caller treats as "use sharp".
 */
export function enlargeBicubic(src: Uint8Array, w: number, h: number, ch: number, outW: number, outH: number, greyToRgb = false): Uint8Array | null {
  const hs = 1 / (w / outW); // sharp: resize(1/hshrink), hshrink = width / targetWidth
  const vs = 1 / (h / outH);
  if (!(hs > 1 && vs > 1)) return null;
  // The affine's output box must be the target (sharp asks for that size; this checks rounding agrees).
  if (Math.round(w * hs) !== outW || Math.round(h * vs) !== outH) return null;
  const [ia, id] = inverse(hs, vs);
  const X = axisPlan(outW, ia, true);
  const Y = axisPlan(outH, id, false);
  const clampX = (i: number) => (i < 0 ? 0 : i >= w ? w - 1 : i);
  const clampY = (i: number) => (i < 0 ? 0 : i >= h ? h - 1 : i);
  // Pass 1: libvips' per-row sums r0…r3 depend only on the source row and the output column, so
  // compute them once per source row (rounded to integers exactly as the interpolator does).
  const rowW = outW * ch;
  const horiz = new Int32Array(h * rowW);
  for (let ox = 0; ox < outW; ox++) {
    const t = X.row[ox]! * 4;
    const c0 = TABLE[t]!, c1 = TABLE[t + 1]!, c2 = TABLE[t + 2]!, c3 = TABLE[t + 3]!;
    const f = X.first[ox]!;
    const a0 = clampX(f) * ch, a1 = clampX(f + 1) * ch, a2 = clampX(f + 2) * ch, a3 = clampX(f + 3) * ch;
    for (let y = 0; y < h; y++) {
      const s0 = y * w * ch;
      const d = y * rowW + ox * ch;
      for (let c = 0; c < ch; c++) {
        horiz[d + c] = (c0 * src[s0 + a0 + c]! + c1 * src[s0 + a1 + c]! + c2 * src[s0 + a2 + c]! + c3 * src[s0 + a3 + c]! + IROUND) >> ISHIFT;
      }
    }
  }
  // Pass 2: the vertical sum of those four rows, rounded and clipped to 0…255.
  // One grey channel is written three times (libvips' B_W → sRGB for 8-bit copies it).
  const rep = ch === 1 && greyToRgb ? 3 : 1;
  const out = new Uint8Array(outH * rowW * rep);
  for (let oy = 0; oy < outH; oy++) {
    const t = Y.row[oy]! * 4;
    const c0 = TABLE[t]!, c1 = TABLE[t + 1]!, c2 = TABLE[t + 2]!, c3 = TABLE[t + 3]!;
    const f = Y.first[oy]!;
    const r0 = clampY(f) * rowW, r1 = clampY(f + 1) * rowW, r2 = clampY(f + 2) * rowW, r3 = clampY(f + 3) * rowW;
    let q = oy * rowW * rep;
    for (let i = 0; i < rowW; i++) {
      const s = (c0 * horiz[r0 + i]! + c1 * horiz[r1 + i]! + c2 * horiz[r2 + i]! + c3 * horiz[r3 + i]! + IROUND) >> ISHIFT;
      const v = s < 0 ? 0 : s > 255 ? 255 : s;
      out[q++] = v;
      if (rep === 3) {
        out[q++] = v;
        out[q++] = v;
      }
    }
  }
  return out;
}

/** Grey (1 channel) → RGB by copying, as libvips' B_W → sRGB conversion does for 8-bit. */
function greyToRgb(grey: Uint8Array): Uint8Array {
  const out = new Uint8Array(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) out[j] = out[j + 1] = out[j + 2] = grey[i]!;
  return out;
}

/**
 * The whole fast path: PNG bytes → 8-bit RGB outH×outW, exactly as decode.ts's sharp pipeline
 * gives it for a `squash` resize without a view; null when this file or size is not covered.
 */
export function pngToRgbSquash(bytes: Uint8Array, outH: number, outW: number): Buffer | null {
  let px: PngPixels | null;
  try {
    px = decodePng(bytes);
  } catch {
    return null; // a broken file: sharp reads it (or words the error) as it always has
  }
  if (!px) return null;
  const flat = flattenOnWhite(px);
  const same = px.width === outW && px.height === outH;
  const rgb = same ? (flat.channels === 1 ? greyToRgb(flat.data) : flat.data) : enlargeBicubic(flat.data, px.width, px.height, flat.channels, outW, outH, true);
  if (!rgb) return null;
  return Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
}
