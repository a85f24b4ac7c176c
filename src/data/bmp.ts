/**
 * Minimal BMP reader (libvips, and so sharp, cannot read BMP).
 * Supports uncompressed 1/4/8-bit palette, 24-bit, and 32-bit (BI_RGB or BI_BITFIELDS) images,
 * bottom-up or top-down. RLE, JPEG/PNG-in-BMP and 16-bit files are reported as unsupported.
 */

export interface BmpHeader {
  width: number;
  height: number;
  bitsPerPixel: number;
  compression: number;
  /** Rows stored top to bottom (negative height in the file). */
  topDown: boolean;
  /** Why this file cannot be decoded here; undefined when supported. */
  unsupported?: string;
}

export interface BmpImage {
  width: number;
  height: number;
  channels: 3 | 4;
  /** Top-down, interleaved RGB(A), 8 bits per channel. */
  data: Buffer;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** True when the bytes start like a BMP file. */
export function isBmp(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d;
}

/** Parse the headers; throws on a malformed header. Needs about the first 70 bytes. */
export function readBmpHeader(buf: Buffer): BmpHeader {
  if (!isBmp(buf) || buf.length < 26) throw new Error('not a BMP file or header cut short');
  const dibSize = buf.readUInt32LE(14);
  let width: number;
  let height: number;
  let bitsPerPixel: number;
  let compression = BI_RGB;
  if (dibSize === 12) {
    width = buf.readUInt16LE(18);
    height = buf.readInt16LE(20);
    bitsPerPixel = buf.readUInt16LE(24);
  } else if (dibSize >= 40) {
    if (buf.length < 34) throw new Error('BMP header cut short');
    width = buf.readInt32LE(18);
    height = buf.readInt32LE(22);
    bitsPerPixel = buf.readUInt16LE(28);
    compression = buf.readUInt32LE(30);
  } else {
    throw new Error(`unknown BMP header size ${dibSize}`);
  }
  if (width <= 0 || height === 0) throw new Error(`bad BMP dimensions ${width}×${height}`);
  const header: BmpHeader = { width, height: Math.abs(height), bitsPerPixel, compression, topDown: height < 0 };
  const palette = bitsPerPixel === 1 || bitsPerPixel === 4 || bitsPerPixel === 8;
  if (compression === BI_RGB && (palette || bitsPerPixel === 24 || bitsPerPixel === 32)) return header;
  if ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && bitsPerPixel === 32) return header;
  header.unsupported = `unsupported format bmp (${bitsPerPixel}-bit, compression ${compression})`;
  return header;
}

/** Shift and width of a contiguous bit mask. */
function maskInfo(mask: number): { shift: number; bits: number } {
  if (mask === 0) return { shift: 0, bits: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  let bits = 0;
  while (((mask >>> (shift + bits)) & 1) === 1 && shift + bits < 32) bits++;
  return { shift, bits };
}

/** Decode a whole BMP file into 8-bit RGB(A); throws with a reason on malformed or cut files. */
export function decodeBmp(buf: Buffer): BmpImage {
  const h = readBmpHeader(buf);
  if (h.unsupported) throw new Error(h.unsupported);
  const { width, height, bitsPerPixel: bpp, topDown } = h;
  const dibSize = buf.readUInt32LE(14);
  const dataOffset = buf.readUInt32LE(10);
  const rowSize = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + rowSize * height > buf.length) throw new Error('truncated BMP (pixel data cut short)');

  // Palette (1/4/8-bit): BGR triples (old OS/2 header) or BGRx quads.
  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const entry = dibSize === 12 ? 3 : 4;
    const colorsUsed = dibSize >= 40 ? buf.readUInt32LE(46) : 0;
    const count = colorsUsed || 1 << bpp;
    const start = 14 + dibSize;
    if (start + count * entry > dataOffset) throw new Error('BMP palette overlaps pixel data');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count && i < 256; i++) {
      palette[i * 3] = buf[start + i * entry + 2]!;
      palette[i * 3 + 1] = buf[start + i * entry + 1]!;
      palette[i * 3 + 2] = buf[start + i * entry]!;
    }
  }

  // 32-bit channel masks: default BGRx; BITFIELDS masks follow a 40-byte header or live inside V2+.
  let masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0];
  if (bpp === 32 && h.compression !== BI_RGB) {
    const at = 54;
    const n = h.compression === BI_ALPHABITFIELDS || dibSize >= 56 ? 4 : 3;
    if (buf.length < at + n * 4) throw new Error('BMP bit masks cut short');
    masks = [0, 1, 2, 3].map((i) => (i < n ? buf.readUInt32LE(at + i * 4) : 0));
  } else if (bpp === 32 && dibSize >= 56) {
    // V3+ headers may declare an alpha mask even for BI_RGB; honour it only if non-zero.
    const alpha = buf.readUInt32LE(54 + 12);
    if (alpha !== 0) masks[3] = alpha;
  }
  const info = masks.map(maskInfo);
  const hasAlphaMask = info[3]!.bits > 0;

  const scale = (v: number, bits: number) => (bits >= 8 ? v >>> (bits - 8) : Math.round((v * 255) / ((1 << bits) - 1)));
  const rgba = Buffer.alloc(width * height * 4);
  let anyAlpha = false;
  for (let y = 0; y < height; y++) {
    const srcRow = dataOffset + (topDown ? y : height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (palette) {
        const perByte = 8 / bpp;
        const byte = buf[srcRow + Math.floor(x / perByte)]!;
        const shift = 8 - bpp * ((x % perByte) + 1);
        const idx = (byte >> shift) & ((1 << bpp) - 1);
        rgba[o] = palette[idx * 3]!;
        rgba[o + 1] = palette[idx * 3 + 1]!;
        rgba[o + 2] = palette[idx * 3 + 2]!;
        rgba[o + 3] = 255;
      } else if (bpp === 24) {
        const p = srcRow + x * 3;
        rgba[o] = buf[p + 2]!;
        rgba[o + 1] = buf[p + 1]!;
        rgba[o + 2] = buf[p]!;
        rgba[o + 3] = 255;
      } else {
        const px = buf.readUInt32LE(srcRow + x * 4);
        for (let c = 0; c < 3; c++) {
          const { shift, bits } = info[c]!;
          rgba[o + c] = bits ? scale(((px & masks[c]!) >>> shift) >>> 0, bits) : 0;
        }
        if (hasAlphaMask) {
          const a = scale(((px & masks[3]!) >>> info[3]!.shift) >>> 0, info[3]!.bits);
          rgba[o + 3] = a;
          if (a !== 0) anyAlpha = true;
        } else {
          rgba[o + 3] = 255;
        }
      }
    }
  }
  // An alpha channel that is zero everywhere is an unused padding byte, not transparency.
  const keepAlpha = hasAlphaMask && anyAlpha;
  if (keepAlpha) return { width, height, channels: 4, data: rgba };
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  return { width, height, channels: 3, data: rgb };
}
