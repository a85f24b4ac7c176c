/**
 * The log-mel spectrogram's STFT → power → mel in WebAssembly SIMD (src/audio/wasm/fft.wat `stft_mel`), two
 * frames per f64x2 lane pair, with the same float64 operations in the same order as the JS path in
 * src/audio/mel.ts and src/audio/fft.ts — so the two give identical numbers (tested).
 */
import type { Pass } from '../fft.js';
import { align, kernels, release } from './kernels.js';

/** A mel front-end's tables, as the kernel reads them. */
export interface SimdMelPlan {
  nFft: number;
  hop: number;
  nMels: number;
  window: Float64Array;
  stages: readonly Pass[];
  wc: Float64Array;
  ws: Float64Array;
  /** Sparse mel rows: band m's weights w[off[m] .. off[m+1]) start at bin lo[m]. */
  w: Float64Array;
  off: Int32Array;
  lo: Int32Array;
}

let plans = 0;
const ids = new WeakMap<SimdMelPlan, string>();

/** Byte offsets of consecutive blocks of the given (16-byte aligned) sizes from base. */
function layout(base: number, sizes: number[]): number[] {
  const at: number[] = [];
  for (const s of sizes) ((at.push(base)), (base += s));
  return at;
}

/** The plan's tables in the kernels' memory (resident; written once): their byte offsets. */
function resident(p: SimdMelPlan): { win: number; wc: number; ws: number; plan: number; mw: number; off: number; lo: number } {
  const k = kernels();
  let id = ids.get(p);
  if (!id) ids.set(p, (id = `mel ${plans++}`));
  const half = p.nFft / 2;
  const sizes = [p.nFft * 8, (half + 1) * 8, (half + 1) * 8, p.stages.length * 16, p.w.length * 8, (p.nMels + 1) * 4, p.nMels * 4, ...p.stages.map((s) => s.tw.length * 8)].map(align);
  const fill = (base: number) => {
    const [win, wc, ws, plan, mw, off, lo, ...tw] = layout(base, sizes);
    const mem = k.fn.memory.buffer;
    k.f64(win!, p.nFft).set(p.window);
    k.f64(wc!, half + 1).set(p.wc);
    k.f64(ws!, half + 1).set(p.ws);
    k.f64(mw!, p.w.length).set(p.w);
    new Int32Array(mem, off!, p.nMels + 1).set(p.off);
    new Int32Array(mem, lo!, p.nMels).set(p.lo);
    const desc = new Int32Array(mem, plan!, p.stages.length * 4);
    p.stages.forEach((s, i) => {
      k.f64(tw[i]!, s.tw.length).set(s.tw);
      desc.set([s.r, s.m, s.s, tw[i]!], 4 * i);
    });
  };
  const [win, wc, ws, plan, mw, off, lo] = layout(k.resident(id, sizes.reduce((a, b) => a + b, 0), fill), sizes);
  return { win: win!, wc: wc!, ws: ws!, plan: plan!, mw: mw!, off: off!, lo: lo! };
}

/** Mel power spectrogram (nMels × frames, band-major) of x, centred frames with reflect padding. */
export function stftMel(p: SimdMelPlan, x: Float32Array, frames: number): Float32Array {
  const k = kernels();
  const r = resident(p);
  const half = p.nFft / 2;
  const pad = Math.floor(p.nFft / 2);
  const n = x.length;
  const len = n + 2 * pad;
  const sizes = [80, len * 8, half * 16, half * 16, half * 16, half * 16, (half + 1) * 16, p.nMels * frames * 4].map(align);
  const o = layout(k.scratch(sizes.reduce((a, b) => a + b, 0)), sizes);
  const sig = k.f64(o[1]!, len);
  for (let i = 0; i < pad; i++) sig[i] = x[pad - i]!; // reflect: x[-j] = x[j]
  sig.set(x, pad);
  for (let i = 0; i < pad; i++) sig[pad + n + i] = x[n - 2 - i]!; // x[n - 1 + j] = x[n - 1 - j]
  new Int32Array(k.fn.memory.buffer, o[0]!, 19).set([o[1]!, frames, p.hop, r.win, half, r.plan, p.stages.length, o[2]!, o[3]!, o[4]!, o[5]!, r.wc, r.ws, o[6]!, r.mw, r.off, r.lo, p.nMels, o[7]!]);
  k.fn.stft_mel(o[0]!);
  const out = k.f32(o[7]!, p.nMels * frames).slice();
  release();
  return out;
}
