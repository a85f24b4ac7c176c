/**
 * safetensors reader/writer. Layout: an 8-byte little-endian header length N, N bytes of JSON
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`, offsets
 * relative to the end of the header), then the tensor bytes. Every number in the header is
 * checked against the file before any data is touched.
 */
import { DTYPE_SIZE, MAX_ELEMENTS, isDType, numelOf, toFloat32, type DType, type ImportedTensor } from './dtype.js';

export type { DType, ImportedTensor } from './dtype.js';

/** safetensors dtypes we recognise but cannot convert to float32. */
const UNSUPPORTED = new Set(['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'U16', 'U32', 'U64', 'C64']);

/** The largest header we accept (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts (8 + header length). */
  dataStart: number;
}

/** True if `buf` starts like a safetensors file (a plausible header length, then `{`). */
export function looksLikeSafetensors(buf: Uint8Array): boolean {
  if (buf.length < 10 || buf[8] !== 0x7b) return false;
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(MAX_HEADER);
}

/** Parses and validates the header (no tensor data is read). */
export function parseSafetensorsHeader(buf: Uint8Array, file = 'safetensors'): SafetensorsHeader {
  if (buf.length < 8) throw new Error(`${file}: too short to be a safetensors file (${buf.length} bytes; truncated?)`);
  const n64 = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) throw new Error(`${file}: not a safetensors file (header length ${n64} is implausible)`);
  const n = Number(n64);
  if (8 + n > buf.length) throw new Error(`${file}: truncated safetensors file (header needs ${n} bytes, only ${buf.length - 8} present)`);
  if (n < 2 || buf[8] !== 0x7b) throw new Error(`${file}: not a safetensors file (header does not start with '{')`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (err) {
    throw new Error(`${file}: invalid safetensors JSON header: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error(`${file}: safetensors header is not a JSON object`);
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new Error(`${file}: __metadata__ must be an object of strings`);
      metadata = Object.fromEntries(Object.entries(info as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const where = `${file}: tensor '${name}'`;
    if (typeof info !== 'object' || info === null) throw new Error(`${where}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDType(dtype)) {
      if (typeof dtype === 'string' && UNSUPPORTED.has(dtype)) throw new Error(`${where}: dtype ${dtype} is not supported`);
      throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${where}: shape must be a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new Error(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const [b, e] = offsets as [number, number];
    const numel = numelOf(shape);
    if (numel > MAX_ELEMENTS) throw new Error(`${where}: shape [${shape}] is too large (${numel} elements)`);
    const bytes = numel * DTYPE_SIZE[dtype];
    if (e - b !== bytes) throw new Error(`${where}: ${dtype} [${shape}] needs ${bytes} bytes but data_offsets [${b}, ${e}] span ${e - b}`);
    if (e > dataLen) throw new Error(`${where}: data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes; truncated file?)`);
    entries.push({ name, dtype, shape: shape.slice(), begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries].sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) throw new Error(`${file}: tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }
  return { entries, metadata, dataStart };
}

/** Reads every tensor of a safetensors file, converted to float32, in header order. */
export function readSafetensors(buf: Uint8Array, file = 'safetensors'): Map<string, ImportedTensor> {
  const { entries } = parseSafetensorsHeader(buf, file);
  const out = new Map<string, ImportedTensor>();
  for (const e of entries) out.set(e.name, { dtype: e.dtype, shape: e.shape, data: toFloat32(buf.subarray(e.begin, e.end), e.dtype) });
  return out;
}

/** A tensor to write: float32 data, or raw little-endian bytes of another dtype. */
export type SafetensorsInput = { shape: number[]; data: Float32Array } | { shape: number[]; dtype: DType; bytes: Uint8Array };

/**
 * Writes a safetensors file. Float32 tensors are written as F32; `{dtype, bytes}` entries are
 * written verbatim. The header is padded with spaces so the data starts 8-byte aligned.
 */
export function writeSafetensors(
  tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is not a valid tensor name');
    const dtype: DType = 'data' in t ? 'F32' : t.dtype;
    const bytes = 'data' in t ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.bytes;
    const need = numelOf(t.shape) * DTYPE_SIZE[dtype];
    if (bytes.length !== need) throw new Error(`safetensors: tensor '${name}' ${dtype} [${t.shape}] needs ${need} bytes, got ${bytes.length}`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let o = 8 + head.length;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
