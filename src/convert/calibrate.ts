/**
 * Calibration statistics for int8 quantisation (quantize.ts), gathered over the user's images:
 * - min/max per tensor (RangeObserver in quantize.ts);
 * - a fixed-range histogram per tensor (second pass, over the min/max of the first), from which a
 *   clipped range is chosen by percentile or by entropy (TensorRT's KL-divergence search);
 * - per-channel means of NCHW tensors (for the bias correction of the convolutions reading them).
 */
import type { Ranges } from './quantize.js';

export type CalibrationMethod = 'minmax' | { percentile: number } | 'entropy';

const BINS = 2048;

/** Histograms of each tensor over a fixed range (the min/max of a first pass). */
export class HistogramObserver {
  readonly hist = new Map<string, Float64Array>();
  constructor(readonly ranges: Ranges) {}

  observe(name: string, data: Float32Array): void {
    const r = this.ranges[name];
    if (!r) throw new Error(`HistogramObserver: no range for tensor ${name}`);
    const [lo, hi] = r;
    let h = this.hist.get(name);
    if (!h) this.hist.set(name, (h = new Float64Array(BINS)));
    const k = hi > lo ? BINS / (hi - lo) : 0;
    for (let i = 0; i < data.length; i++) {
      const b = Math.floor((data[i]! - lo) * k);
      h[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
  }

  /** The clipped range of every observed tensor by `method` (min/max ranges pass through). */
  choose(method: CalibrationMethod, levels = 255): Ranges {
    const out: Ranges = {};
    for (const [name, r] of Object.entries(this.ranges)) {
      const h = this.hist.get(name);
      out[name] = !h || method === 'minmax' ? r : method === 'entropy' ? entropyRange(h, r, levels) : percentileRange(h, r, method.percentile);
    }
    return out;
  }
}

/** [lo, hi] holding `p` percent of the mass, the rest cut evenly from both tails (one tail for a one-signed tensor). */
export function percentileRange(h: Float64Array, [lo, hi]: [number, number], p: number): [number, number] {
  if (!(p > 50 && p <= 100)) throw new Error(`calibration percentile must be in (50, 100], got ${p}`);
  const total = h.reduce((a, b) => a + b, 0);
  const w = (hi - lo) / h.length;
  const tails = lo < 0 && hi > 0 ? 2 : 1;
  const cut = (total * (100 - p)) / 100 / tails;
  let a = 0;
  let lowBin = 0;
  if (lo < 0) for (let acc = 0; lowBin < h.length && acc + h[lowBin]! <= cut; lowBin++) acc += h[lowBin]!;
  let highBin = h.length;
  for (; highBin > 0 && a + h[highBin - 1]! <= cut; highBin--) a += h[highBin - 1]!;
  return [lo < 0 ? lo + lowBin * w : lo, Math.max(lo + highBin * w, lo < 0 ? 0 : lo)];
}

/**
 * The threshold T minimising KL(P‖Q) between the |x| distribution clipped at T (outliers folded into
 * the last bin) and its `levels`-step quantisation; the range is [max(lo, −T), min(hi, T)].
 */
export function entropyRange(h: Float64Array, [lo, hi]: [number, number], levels: number): [number, number] {
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  if (m === 0) return [lo, hi];
  // |x| histogram over [0, m], BINS bins.
  const abs = new Float64Array(BINS);
  const w = (hi - lo) / h.length;
  for (let b = 0; b < h.length; b++) {
    const c = Math.abs(lo + (b + 0.5) * w);
    abs[Math.min(BINS - 1, Math.floor((c / m) * BINS))]! += h[b]!;
  }
  const q = lo < 0 && hi > 0 ? Math.floor(levels / 2) : levels;
  let best = { kl: Infinity, bins: BINS };
  for (let i = q; i <= BINS; i += 4) {
    const kl = klAt(abs, i, q);
    if (kl < best.kl) best = { kl, bins: i };
  }
  const t = (best.bins / BINS) * m;
  return [Math.max(lo, -t), Math.min(hi, t)];
}

/**
 * KL(P‖Q): P = the first `i` bins with the tail folded into the last; Q = the unclipped first `i`
 * bins merged into `q` levels and spread back evenly over their non-empty bins.
 */
function klAt(abs: Float64Array, i: number, q: number): number {
  const p = Float64Array.from(abs.subarray(0, i));
  for (let b = i; b < abs.length; b++) p[i - 1]! += abs[b]!;
  const e = new Float64Array(i);
  for (let j = 0; j < q; j++) {
    const s = Math.floor((j * i) / q);
    const t = Math.floor(((j + 1) * i) / q);
    let sum = 0;
    let nz = 0;
    for (let b = s; b < t; b++) if (abs[b]! > 0) [sum, nz] = [sum + abs[b]!, nz + 1];
    for (let b = s; b < t; b++) if (abs[b]! > 0) e[b] = sum / nz;
  }
  const sp = p.reduce((a, b) => a + b, 0);
  const se = e.reduce((a, b) => a + b, 0);
  if (sp === 0 || se === 0) return Infinity;
  let kl = 0;
  for (let b = 0; b < i; b++) {
    if (p[b]! === 0) continue;
    const pb = p[b]! / sp;
    kl += pb * Math.log(pb / (e[b]! > 0 ? e[b]! / se : 1e-12));
  }
  return kl;
}

/** Running per-channel means of NCHW tensors (axis 1). */
export class ChannelMeanObserver {
  private readonly sums = new Map<string, { sum: Float64Array; n: number }>();
  observe(name: string, data: Float32Array, dims: readonly number[]): void {
    const [n, c] = [dims[0]!, dims[1]!];
    const hw = data.length / (n * c);
    let s = this.sums.get(name);
    if (!s) this.sums.set(name, (s = { sum: new Float64Array(c), n: 0 }));
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        const o = (i * c + ch) * hw;
        for (let k = 0; k < hw; k++) acc += data[o + k]!;
        s.sum[ch]! += acc;
      }
    s.n += n * hw;
  }
  means(): Record<string, Float32Array> {
    return Object.fromEntries([...this.sums].map(([k, { sum, n }]) => [k, Float32Array.from(sum, (v) => v / n)]));
  }
}
