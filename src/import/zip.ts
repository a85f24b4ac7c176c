/**
 * A minimal ZIP reader (central directory; STORED and DEFLATE; zip64) and a STORED-only
 * writer, enough for PyTorch checkpoints (`torch.save` writes an uncompressed zip whose
 * records are 64-byte aligned).
 */
import zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATE. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the local file header. */
  localOffset: number;
}

export interface ZipArchive {
  entries: ZipEntry[];
  has(name: string): boolean;
  entry(name: string): ZipEntry | undefined;
  /** The entry's bytes (a view into the archive for STORED entries, no copy). */
  read(name: string): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

/** True if the bytes start like a ZIP archive (a local header, or the end record of an empty one). */
export function looksLikeZip(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && ((buf[2] === 3 && buf[3] === 4) || (buf[2] === 5 && buf[3] === 6));
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (IEEE), using node:zlib's when this Node has it. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Parses the central directory of a ZIP archive held in memory. Entry data is read lazily. */
export function readZip(buf: Uint8Array, file = 'zip'): ZipArchive {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${file}: zip64 field too large`);
    return Number(v);
  };
  const startsLikeZip = looksLikeZip(buf);

  // The end-of-central-directory record: 22 bytes + a comment of up to 65535 bytes.
  let eocd = -1;
  for (let o = buf.length - 22; o >= 0 && o >= buf.length - 22 - 0xffff; o--) {
    if (buf[o] === 0x50 && buf[o + 1] === 0x4b && u32(o) === SIG_EOCD && o + 22 + u16(o + 20) <= buf.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    if (startsLikeZip) throw new Error(`${file}: truncated zip archive (no end-of-central-directory record; ${buf.length} bytes)`);
    throw new Error(`${file}: not a zip archive`);
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== SIG_ZIP64_LOCATOR) throw new Error(`${file}: zip64 archive without a zip64 locator`);
    const z = u64(loc + 8);
    if (z + 56 > buf.length || u32(z) !== SIG_ZIP64_EOCD) throw new Error(`${file}: bad zip64 end-of-central-directory record`);
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  if (cdOffset + cdSize > buf.length) throw new Error(`${file}: truncated zip archive (central directory at ${cdOffset}+${cdSize} is past the end, ${buf.length} bytes)`);

  const entries: ZipEntry[] = [];
  const byName = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || u32(p) !== SIG_CENTRAL) throw new Error(`${file}: corrupt zip central directory (entry ${i} at ${p})`);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    if (p + 46 + nameLen + extraLen + commentLen > buf.length) throw new Error(`${file}: corrupt zip central directory (entry ${i})`);
    const name = decoder.decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 64-bit values for the fields saturated above, in order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff && q + 8 <= e + 4 + len) (size = u64(q)), (q += 8);
        if (compressedSize === 0xffffffff && q + 8 <= e + 4 + len) (compressedSize = u64(q)), (q += 8);
        if (localOffset === 0xffffffff && q + 8 <= e + 4 + len) localOffset = u64(q);
      }
      e += 4 + len;
    }
    const entry: ZipEntry = { name, method, compressedSize, size, crc32: crc, localOffset };
    entries.push(entry);
    byName.set(name, entry);
    p += 46 + nameLen + extraLen + commentLen;
  }

  const read = (name: string): Uint8Array => {
    const en = byName.get(name);
    if (!en) throw new Error(`${file}: zip archive has no entry ${name}`);
    const o = en.localOffset;
    if (o + 30 > buf.length || u32(o) !== SIG_LOCAL) throw new Error(`${file}: corrupt zip archive (bad local header for ${name})`);
    const start = o + 30 + u16(o + 26) + u16(o + 28);
    const end = start + en.compressedSize;
    if (end > buf.length) throw new Error(`${file}: truncated zip archive (${name} needs bytes ${start}..${end}, file has ${buf.length})`);
    const raw = buf.subarray(start, end);
    let data: Uint8Array;
    if (en.method === 0) {
      if (en.compressedSize !== en.size) throw new Error(`${file}: corrupt zip archive (${name}: stored sizes differ)`);
      data = raw;
    } else if (en.method === 8) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, en.size) });
      } catch (err) {
        throw new Error(`${file}: cannot inflate ${name}: ${(err as Error).message}`);
      }
      if (data.length !== en.size) throw new Error(`${file}: ${name} inflated to ${data.length} bytes, expected ${en.size}`);
    } else {
      throw new Error(`${file}: ${name} uses unsupported zip compression method ${en.method}`);
    }
    if (crc32(data) !== en.crc32) throw new Error(`${file}: CRC mismatch in ${name} (corrupt file)`);
    return data;
  };

  return { entries, has: (n) => byName.has(n), entry: (n) => byName.get(n), read };
}

/**
 * Writes a zip: entries are STORED (uncompressed) unless `deflate` is set. With `align`, each
 * entry's data starts at a multiple of `align` bytes (padding goes into the local header's
 * extra field, as PyTorch does).
 */
export function writeZip(files: { name: string; data: Uint8Array; deflate?: boolean }[], opts: { align?: number } = {}): Uint8Array {
  const align = opts.align ?? 1;
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    const body = f.deflate ? new Uint8Array(zlib.deflateRawSync(f.data)) : f.data;
    const method = f.deflate ? 8 : 0;
    let pad = 0;
    if (align > 1) {
      const dataAt = offset + 30 + name.length + 4;
      pad = (align - (dataAt % align)) % align;
    }
    const extraLen = align > 1 ? 4 + pad : 0;
    const local = new Uint8Array(30 + name.length + extraLen);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extraLen, true);
    local.set(name, 30);
    if (extraLen) {
      lv.setUint16(30 + name.length, 0x4246, true); // 'FB': padding, ignored by readers
      lv.setUint16(32 + name.length, pad, true);
    }
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let o = 0;
  for (const part of [...parts, ...central, end]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}
