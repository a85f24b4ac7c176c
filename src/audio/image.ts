/**
 * A dB spectrogram → the backbone's 8-bit RGB input: grey levels (loudest cell white, `topDb` below
 * it black, high frequencies in row 0) → bilinear resize with half-pixel centres → three equal
 * 8-bit channels. `spectrogramToRgb` runs the three steps in one WebAssembly SIMD kernel
 * (src/audio/wasm/image.wat `grey_image`, the same float64 operations and float32 roundings in the same order:
 * identical bytes, tested); the JS functions below are its reference and stay exported.
 */
import { align, kernels, release } from './wasm/kernels.js';

/** dB spectrogram (nMels × frames) → grey levels in [0,1], high frequencies in row 0. */
export function toGrey(spec: { data: Float32Array; nMels: number; frames: number }, topDb: number): Float32Array {
  const { data, nMels, frames } = spec;
  let max = -Infinity;
  let min = Infinity;
  for (const v of data) ((max = Math.max(max, v)), (min = Math.min(min, v)));
  const out = new Float32Array(nMels * frames);
  if (!(max - min > 1e-6)) return out; // silence (or a constant): black
  const floor = max - topDb;
  for (let m = 0; m < nMels; m++) {
    const src = m * frames;
    const dst = (nMels - 1 - m) * frames;
    for (let t = 0; t < frames; t++) out[dst + t] = Math.max(0, (data[src + t]! - floor) / topDb);
  }
  return out;
}

/** One axis of a half-pixel bilinear resize: for each output index, the two source indices and the weight of the second. */
function axis(n: number, sn: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.min(sn - 1, Math.max(0, ((i + 0.5) * sn) / n - 0.5));
    i0[i] = Math.floor(x);
    i1[i] = Math.min(sn - 1, i0[i]! + 1);
    f[i] = x - i0[i]!;
  }
  return { i0, i1, f };
}

/**
 * Bilinear resize with half-pixel centres (ONNX Resize linear / half_pixel), clamped at the edges.
 * Separable: each source row is interpolated along x once, then output rows blend two of those.
 */
export function resizeBilinear(src: Float32Array, sh: number, sw: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  const ys = axis(h, sh);
  const { i0: x0, i1: x1, f: fx } = axis(w, sw);
  const rows = new Float64Array(sh * w);
  for (let r = 0; r < sh; r++) {
    const s = r * sw;
    const d = r * w;
    for (let x = 0; x < w; x++) rows[d + x] = src[s + x0[x]!]! * (1 - fx[x]!) + src[s + x1[x]!]! * fx[x]!;
  }
  for (let y = 0; y < h; y++) {
    const a = ys.i0[y]! * w;
    const b = ys.i1[y]! * w;
    const fy = ys.f[y]!;
    const gy = 1 - fy;
    const o = y * w;
    for (let x = 0; x < w; x++) out[o + x] = rows[a + x]! * gy + rows[b + x]! * fy;
  }
  return out;
}

/** Grey [0,1] H×W → 8-bit RGB (three equal channels). */
export function greyToRgb(grey: Float32Array): Buffer {
  const out = new Uint8Array(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const g = grey[i]! * 255 + 0.5; // Math.round for g ≥ 0; below 0 both clamp to 0, NaN gives 0
    const v = g < 1 ? 0 : g >= 255 ? 255 : g | 0;
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

/** Axis tables for the kernel: i0 i32[n], i1 i32[n], f f64[n], 1 − f f64[n] (cached by size). */
const axes = new Map<string, Uint8Array>();
function axisTable(n: number, sn: number): Uint8Array {
  const key = `${n}/${sn}`;
  let t = axes.get(key);
  if (!t) {
    const { i0, i1, f } = axis(n, sn);
    t = new Uint8Array(24 * n);
    new Int32Array(t.buffer, 0, n).set(i0);
    new Int32Array(t.buffer, 4 * n, n).set(i1);
    new Float64Array(t.buffer, 8 * n, n).set(f);
    new Float64Array(t.buffer, 16 * n, n).set(f.map((v) => 1 - v));
    if (axes.size > 32) axes.clear();
    axes.set(key, t);
  }
  return t;
}

/** greyToRgb(resizeBilinear(toGrey(spec, topDb), …, h, w)) in one SIMD kernel: the same bytes. */
export function spectrogramToRgb(spec: { data: Float32Array; nMels: number; frames: number }, topDb: number, size: [number, number]): Buffer {
  const [h, w] = size;
  const { data, nMels: sh, frames: sw } = spec;
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new Error(`image size must be positive integers, got ${h}×${w}`);
  let max = -Infinity;
  let min = Infinity;
  for (const v of data) ((max = Math.max(max, v)), (min = Math.min(min, v)));
  if (!(max - min > 1e-6)) return Buffer.alloc(h * w * 3); // silence (or a constant, or NaN): black, as toGrey
  const k = kernels();
  const ax = axisTable(w, sw);
  const ay = axisTable(h, sh);
  const sizes = [sh * sw * 4, sh * sw * 4, (sh * w + 2) * 8, ax.length, ay.length, h * w * 3].map(align);
  const at: number[] = [];
  let q = k.scratch(sizes.reduce((a, b) => a + b, 0));
  for (const s of sizes) ((at.push(q)), (q += s));
  const [src, grey, rows, pax, pay, out] = at as [number, number, number, number, number, number];
  k.f32(src, sh * sw).set(data);
  const mem = new Uint8Array(k.fn.memory.buffer);
  mem.set(ax, pax);
  mem.set(ay, pay);
  k.fn.grey_image(src, sh, sw, max - topDb, topDb, h, w, pax, pay, grey, rows, out);
  const rgb = Buffer.from(mem.subarray(out, out + h * w * 3));
  release();
  return rgb;
}
