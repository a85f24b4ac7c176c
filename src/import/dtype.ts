/**
 * Element types shared by the safetensors and PyTorch readers, and their conversion to
 * Float32Array. Names follow safetensors (`F32`, `BF16`, `I64`, …).
 */
import os from 'node:os';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element. */
export const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** One tensor read from a file, converted to float32 (row-major, `data.length === product(shape)`). */
export interface ImportedTensor {
  /** The element type stored in the file (the data is always converted to float32). */
  dtype: DType;
  shape: number[];
  data: Float32Array;
}

/** The largest tensor we will materialise (elements); guards against hostile shapes. */
export const MAX_ELEMENTS = 2 ** 30;

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

let halfTable: Float32Array | undefined;
/** All 65536 IEEE half-precision values as float32 (built once, 256 KB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24; // zero / subnormal
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** Decodes one IEEE half (as a 16-bit pattern) to a number. */
export function halfToFloat(h: number): number {
  return halfToFloatTable()[h & 0xffff];
}

/** Encodes a number as an IEEE half bit pattern (round to nearest even). */
export function floatToHalf(v: number): number {
  const f32 = new Float32Array([v]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

/** Encodes a number as a bfloat16 bit pattern (round to nearest even). */
export function floatToBf16(v: number): number {
  const f32 = new Float32Array([v]);
  const x = new Uint32Array(f32.buffer)[0];
  if (Number.isNaN(v)) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** A copy of `bytes` in a fresh (hence aligned) buffer, with each `size`-byte group reversed if `swap`. */
function alignedCopy(bytes: Uint8Array, size: number, swap: boolean): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (swap && size > 1) {
    for (let i = 0; i < copy.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = copy[a];
        copy[a] = copy[b];
        copy[b] = t;
      }
    }
  }
  return copy.buffer;
}

/**
 * Converts `bytes` (exactly `n * DTYPE_SIZE[dtype]` of them, in the file's byte order) to a new
 * Float32Array of n values. `bigEndian` marks data written on a big-endian machine.
 */
export function toFloat32(bytes: Uint8Array, dtype: DType, bigEndian = false): Float32Array {
  const size = DTYPE_SIZE[dtype];
  if (bytes.length % size !== 0) throw new Error(`${dtype} data of ${bytes.length} bytes is not a whole number of elements`);
  const n = bytes.length / size;
  const swap = bigEndian === LITTLE_ENDIAN_HOST;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (!swap) new Uint8Array(out.buffer).set(bytes);
      else out.set(new Float32Array(alignedCopy(bytes, 4, true)));
      return out;
    case 'F64':
      out.set(new Float64Array(alignedCopy(bytes, 8, swap)));
      return out;
    case 'F16': {
      const t = halfToFloatTable();
      const h = new Uint16Array(alignedCopy(bytes, 2, swap));
      for (let i = 0; i < n; i++) out[i] = t[h[i]];
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(alignedCopy(bytes, 2, swap));
      const o = new Uint32Array(out.buffer);
      if (LITTLE_ENDIAN_HOST) for (let i = 0; i < n; i++) o[i] = h[i] << 16;
      else throw new Error('BF16 decoding needs a little-endian host');
      return out;
    }
    case 'I64': {
      const v = new BigInt64Array(alignedCopy(bytes, 8, swap));
      for (let i = 0; i < n; i++) out[i] = Number(v[i]);
      return out;
    }
    case 'I32':
      out.set(new Int32Array(alignedCopy(bytes, 4, swap)));
      return out;
    case 'I16':
      out.set(new Int16Array(alignedCopy(bytes, 2, swap)));
      return out;
    case 'I8':
      out.set(new Int8Array(bytes.buffer, bytes.byteOffset, n));
      return out;
    case 'U8':
      out.set(bytes);
      return out;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i] ? 1 : 0;
      return out;
  }
}

/**
 * Gathers a strided view (`shape`, `stride` and `offset` in elements) out of a converted
 * storage into a new row-major Float32Array. Bounds must already be checked by the caller.
 */
export function gatherStrided(src: Float32Array, shape: readonly number[], stride: readonly number[], offset: number): Float32Array {
  const n = numelOf(shape);
  const out = new Float32Array(n);
  if (n === 0) return out;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = src[offset];
    return out;
  }
  const last = rank - 1;
  const innerN = shape[last];
  const innerS = stride[last];
  const idx = new Array<number>(rank).fill(0);
  let base = offset;
  let o = 0;
  for (;;) {
    for (let j = 0, p = base; j < innerN; j++, p += innerS) out[o++] = src[p];
    // advance the odometer over the outer dimensions
    let d = last - 1;
    while (d >= 0) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < shape[d]) break;
      base -= stride[d] * shape[d];
      idx[d] = 0;
      d--;
    }
    if (d < 0) return out;
  }
}

/** Row-major (C-contiguous) strides for a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
