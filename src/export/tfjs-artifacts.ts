/**
 * A tfjs LayersModel as the files `tf.loadLayersModel` reads: `model.json` (topology, weights
 * manifest, userDefinedMetadata) + weight shards of at most 4 MiB named as tensorflowjs_converter
 * names them (`group1-shard1of3.bin`, …). Optional weight quantisation in the manifest format
 * tfjs-core decodes itself: `uint8` (affine per tensor: v ≈ q·scale + min, min nudged so 0 is
 * exact) or `float16` (IEEE half, round to nearest even).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { tf } from '../engine/tfjs.js';
import { GRAFT_VERSION } from '../version.js';

export type WeightQuantization = 'uint8' | 'float16';
export const SHARD_BYTES = 4 * 1024 * 1024;

export interface LayersArtifacts {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

/** Serialise `model` in memory (no files). */
export async function modelArtifacts(model: tfl.LayersModel): Promise<LayersArtifacts> {
  let out: LayersArtifacts | undefined;
  await model.save({
    save: async (a: tf.io.ModelArtifacts) => {
      out = { modelTopology: a.modelTopology as object, weightSpecs: a.weightSpecs!, weightData: a.weightData as ArrayBuffer };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return out!;
}

/** float32 → IEEE 754 binary16 bits, round to nearest even (subnormals and overflow to ±inf handled). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * Largest uint8 step (relative to the tensor's RMS) a kernel may get: a kernel whose range is
 * dominated by a few large values (e.g. a linear head fitted with little L2) keeps float32.
 */
export const MAX_UINT8_STEP_RMS = 0.1;

function range(v: Float32Array): { lo: number; hi: number; rms: number } {
  let lo = 0;
  let hi = 0;
  let sq = 0;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    sq += x * x;
  }
  return { lo, hi, rms: Math.sqrt(sq / Math.max(1, v.length)) };
}

/** uint8 affine quantisation of one tensor, as tensorflowjs_converter does it (0 stays exact). */
function quantizeUint8(v: Float32Array): { q: Uint8Array; min: number; scale: number } {
  const { lo, hi } = range(v);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zero = Math.round(-lo / scale);
  const min = -zero * scale;
  const q = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) q[i] = Math.min(255, Math.max(0, Math.round((v[i]! - min) / scale)));
  return { q, min, scale };
}

/** Re-encode float32 weights per `quantize`; other dtypes (int32 counters, …) pass through. */
export function encodeWeights(a: LayersArtifacts, quantize?: WeightQuantization): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array; keptFloat32: string[] } {
  const src = new Uint8Array(a.weightData);
  const keptFloat32: string[] = [];
  if (!quantize) return { specs: a.weightSpecs, data: src, keptFloat32 };
  const parts: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  let off = 0;
  for (const s of a.weightSpecs) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    const bytes = n * 4; // float32 and int32 alike
    const raw = src.slice(off, off + bytes);
    off += bytes;
    // Only kernels (rank ≥ 2) are quantised: biases and BatchNorm statistics are a tiny share of the
    // bytes, but a per-tensor 8-bit grid over a moving variance zeroes its small entries.
    if (s.dtype !== 'float32' || s.shape.length < 2) {
      specs.push(s);
      parts.push(raw);
      continue;
    }
    const v = new Float32Array(raw.buffer);
    const r = range(v);
    if (quantize === 'uint8' && (r.hi - r.lo) / 255 > MAX_UINT8_STEP_RMS * r.rms) {
      keptFloat32.push(s.name);
      specs.push(s);
      parts.push(raw);
    } else if (quantize === 'uint8') {
      const { q, min, scale } = quantizeUint8(v);
      specs.push({ ...s, quantization: { dtype: 'uint8', min, scale } });
      parts.push(q);
    } else {
      const h = new Uint16Array(v.length);
      for (let i = 0; i < v.length; i++) h[i] = toHalf(v[i]!);
      specs.push({ ...s, quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(h.buffer));
    }
  }
  if (off !== src.length) throw new Error(`weights: the manifest describes ${off} bytes, the data has ${src.length}`);
  return { specs, data: concat(parts), keptFloat32 };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The files of a layers model: name → bytes (model.json first). */
export function layersModelFiles(
  a: LayersArtifacts,
  metadata: Record<string, unknown>,
  o: { quantize?: WeightQuantization; singleFile?: string } = {},
): Map<string, Uint8Array> & { keptFloat32?: string[] } {
  const { specs, data, keptFloat32 } = encodeWeights(a, o.quantize);
  const n = o.singleFile ? 1 : Math.max(1, Math.ceil(data.length / SHARD_BYTES));
  const paths = o.singleFile ? [o.singleFile] : Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
  const json = {
    format: 'layers-model',
    generatedBy: `graft ${GRAFT_VERSION}`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths, weights: specs }],
    userDefinedMetadata: metadata,
  };
  const files: Map<string, Uint8Array> & { keptFloat32?: string[] } = new Map([['model.json', new TextEncoder().encode(JSON.stringify(json))]]);
  files.keptFloat32 = keptFloat32;
  if (o.singleFile) files.set(o.singleFile, data);
  else paths.forEach((p, i) => files.set(p, data.slice(i * SHARD_BYTES, (i + 1) * SHARD_BYTES)));
  return files;
}

/** The artifacts a client would get back from `files` (for the in-process parity check). */
export function artifactsFromFiles(files: Map<string, Uint8Array>): tf.io.ModelArtifacts {
  const mj = JSON.parse(new TextDecoder().decode(files.get('model.json')!)) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    userDefinedMetadata?: { [key: string]: {} };
  };
  const shards = mj.weightsManifest.flatMap((g) => g.paths.map((p) => files.get(p)!));
  const data = concat(shards);
  return {
    modelTopology: mj.modelTopology,
    weightSpecs: mj.weightsManifest.flatMap((g) => g.weights),
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
    userDefinedMetadata: mj.userDefinedMetadata,
  };
}
