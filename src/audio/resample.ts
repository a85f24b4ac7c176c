/**
 * Band-limited resampling by windowed-sinc interpolation (polyphase): the rate ratio is reduced to
 * L/M; output sample j sits at input time t = j·M/L and is Σ x[n]·h(t − n) with
 * h(τ) = c·sinc(c·τ)·kaiser(τ / K), cutoff c = rolloff·min(1, L/M) (so downsampling low-passes below
 * the new Nyquist first: no aliasing) and K = zeroCrossings / c taps each side. When L is small the
 * L phases' taps are tabulated once (cached per design) and the output is computed phase by phase —
 * outputs j, j + L, j + 2L, … use the same taps, so eight of them are summed at once; outside the
 * signal counts as zero. That tabulated path runs in WebAssembly SIMD (src/audio/wasm/resample.wat:
 * float32 taps and sums, four taps per instruction, as torchaudio's float32 convolution); the float64
 * JS loop it replaced is kept as `resampleReference`, which the kernel is tested against.
 */
import { align, kernels, release } from './wasm/kernels.js';

export interface ResampleOptions {
  /** Sinc zero crossings on each side (filter length); default 24. */
  zeroCrossings?: number;
  /** Cutoff as a fraction of the lower Nyquist; default 0.94. */
  rolloff?: number;
  /** Kaiser window β; default 9 (≈ 90 dB stop band). */
  beta?: number;
}

const MAX_TABLE_PHASES = 2048;
/** Tabulated polyphase filters by ratio and design (a dataset has one or two source rates). */
const tables = new Map<string, Float64Array>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Band-limited resampling of x from `fromRate` to `toRate` Hz (see the top of this file). */
export function resample(x: Float32Array, fromRate: number, toRate: number, o: ResampleOptions = {}): Float32Array {
  return run(x, fromRate, toRate, o, true);
}

/** The same in float64 JS (the implementation before the SIMD kernel): the reference for tests. */
export function resampleReference(x: Float32Array, fromRate: number, toRate: number, o: ResampleOptions = {}): Float32Array {
  return run(x, fromRate, toRate, o, false);
}

function run(x: Float32Array, fromRate: number, toRate: number, o: ResampleOptions, simd: boolean): Float32Array {
  if (!(fromRate > 0 && toRate > 0) || !Number.isInteger(fromRate) || !Number.isInteger(toRate)) {
    throw new Error(`resample: rates must be positive integers, got ${fromRate} → ${toRate}`);
  }
  if (fromRate === toRate) return x;
  const g = gcd(fromRate, toRate);
  const L = toRate / g;
  const M = fromRate / g;
  const c = (o.rolloff ?? 0.94) * Math.min(1, L / M);
  const K = Math.ceil((o.zeroCrossings ?? 24) / c);
  const beta = o.beta ?? 9;
  const i0b = besselI0(beta);
  const taps = 2 * K;
  const kernel = (tau: number): number => {
    const u = tau / K;
    if (u <= -1 || u >= 1) return 0;
    const a = Math.PI * c * tau;
    const sinc = a === 0 ? 1 : Math.sin(a) / a;
    return c * sinc * (besselI0(beta * Math.sqrt(1 - u * u)) / i0b);
  };
  // taps for phase p (fraction p/L): n = n0 - K + 1 + k, τ = p/L + K - 1 - k
  let table: Float64Array | undefined;
  const key = `${L}/${M}/${c}/${K}/${beta}`;
  if (simd && L <= MAX_TABLE_PHASES && L * M < 2 ** 31) return polyphaseSimd(x, L, M, K, key, kernel);
  if (L <= MAX_TABLE_PHASES) {
    table = tables.get(key);
    if (!table) {
      table = new Float64Array(L * taps);
      for (let p = 0; p < L; p++) for (let k = 0; k < taps; k++) table[p * taps + k] = kernel(p / L + K - 1 - k);
      if (tables.size >= 8) tables.clear();
      tables.set(key, table);
    }
  }
  const outLen = Math.ceil((x.length * L) / M);
  const y = new Float32Array(outLen);
  if (!table) {
    // Too many phases to tabulate: each output sample computes its own taps.
    const row = new Float64Array(taps);
    for (let j = 0; j < outLen; j++) {
      const n0 = Math.floor((j * M) / L);
      const p = j * M - n0 * L;
      for (let k = 0; k < taps; k++) row[k] = kernel(p / L + K - 1 - k);
      y[j] = dot(x, row, 0, n0 - K + 1, taps);
    }
    return y;
  }
  // Outputs j, j + L, j + 2L, … share one phase (their start moves by M samples): walk each phase's
  // outputs with its taps hot in cache, eight at a time (the same sum per output, eight chains at once).
  const h = table;
  const xd = new Float64Array(x);
  for (let r = 0; r < Math.min(L, outLen); r++) {
    const n0 = Math.floor((r * M) / L);
    const base = (r * M - n0 * L) * taps;
    let j = r;
    let start = n0 - K + 1;
    for (; j < outLen && start < 0; j += L, start += M) y[j] = dot(xd, h, base, start, taps);
    for (; j + 7 * L < outLen && start + 7 * M + taps <= x.length; j += 8 * L, start += 8 * M) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      for (let k = base, i = start, e = base + taps; k < e; k++, i++) {
        const c = h[k]!;
        a0 += xd[i]! * c;
        a1 += xd[i + M]! * c;
        a2 += xd[i + 2 * M]! * c;
        a3 += xd[i + 3 * M]! * c;
        a4 += xd[i + 4 * M]! * c;
        a5 += xd[i + 5 * M]! * c;
        a6 += xd[i + 6 * M]! * c;
        a7 += xd[i + 7 * M]! * c;
      }
      y[j] = a0;
      y[j + L] = a1;
      y[j + 2 * L] = a2;
      y[j + 3 * L] = a3;
      y[j + 4 * L] = a4;
      y[j + 5 * L] = a5;
      y[j + 6 * L] = a6;
      y[j + 7 * L] = a7;
    }
    for (; j < outLen; j += L, start += M) y[j] = dot(xd, h, base, start, taps);
  }
  return y;
}

/** Σ_k x[start + k]·h[base + k] over the taps k < n that fall inside x (outside counts as zero). */
function dot(x: Float32Array | Float64Array, h: Float64Array, base: number, start: number, n: number): number {
  const k0 = Math.max(0, -start);
  const k1 = Math.min(n, x.length - start);
  let acc = 0;
  const off = start - base;
  for (let k = base + k0; k < base + k1; k++) acc += x[off + k]! * h[k]!;
  return acc;
}

/**
 * The tabulated path in WebAssembly: the float32 table (phase rows padded with zero taps to a
 * multiple of four) stays resident in the kernels' memory; x is copied in between K zeros before and
 * K + 8 after, so every output is one uniform dot product (outside the signal reads zeros).
 */
function polyphaseSimd(x: Float32Array, L: number, M: number, K: number, key: string, kernel: (tau: number) => number): Float32Array {
  const k = kernels();
  const taps = 2 * K;
  const tp = (taps + 3) & ~3;
  const h = k.resident(`resample ${key}`, L * tp * 4, (at) => {
    const t = k.f32(at, L * tp);
    t.fill(0);
    for (let p = 0; p < L; p++) for (let i = 0; i < taps; i++) t[p * tp + i] = kernel(p / L + K - 1 - i);
  });
  const outLen = Math.ceil((x.length * L) / M);
  const padded = K + x.length + K + 8;
  const xBytes = align(padded * 4);
  const at = k.scratch(xBytes + outLen * 4);
  const xs = k.f32(at, padded);
  xs.fill(0, 0, K);
  xs.set(x, K);
  xs.fill(0, K + x.length);
  k.fn.polyphase(at + K * 4, h, tp, L, M, K, at + xBytes, outLen);
  const y = k.f32(at + xBytes, outLen).slice();
  release();
  return y;
}
