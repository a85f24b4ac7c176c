/**
 * Conv2DBackpropFilter for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 *   dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, ci] · dy[n,oh,ow,co]
 *
 * - 1×1: one GEMM, xᵀ[Cin, M] × dy[M, Cout] (`gemm.ts`: native SGEMM, or XNNPACK with explicit
 *   transposes), x first subsampled if strided or padded.
 * - k×k with native products (`gemm.ts`): im2col rows [M, KH·KW·Cin] (`im2col.ts`), then one GEMM
 *   colsᵀ·dy, which is dW in its [KH, KW, Cin, Cout] layout (7× the convolution below on a 3×3
 *   64→64 gradient at [16,56,56,64]).
 * - otherwise: the same sum is a convolution (XNNPACK) with the roles swapped — batch ← Cin,
 *   channels ← N, filter ← dy: conv2d(xᵀ[Cin,H,W,N], dyᵀ[OH,OW,N,Cout], stride (dh,dw),
 *   dilation (sh,sw)) = [Cin,KH,KW,Cout]. No im2col buffer; the XNNPACK GEMM does the work.
 *   Rows/columns of x that the forward pass never reached are cropped first (a negative pad).
 * - large problems are cut into chunks (rows of M; images) whose float32 sums stay short, and the
 *   partial results added: see `maxTerms`.
 *
 * The kernel also honours a `dilations` attribute (tfjs-core's Conv2D gradient refuses dilation,
 * but a direct runKernel call may pass it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, assertNHWC, crop, f32, free, run, subsample, transpose, view, convGradInfo } from './backend.js';
import { gemm, nativeFor, transAMaxK } from './gemm.js';
import { im2col } from './im2col.js';

/** Largest im2col buffer (floats) built at once. */
const MAX_COLS = 1 << 23;

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: number | [number, number];
}

export function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  assertFloat32('Conv2DBackpropFilter', x, dy);
  assertNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  const info = convGradInfo('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs, false, dy);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const M = N * OH * OW;

  if (KH === 1 && KW === 1) {
    // The pixels the 1×1 filter saw, as rows [M, Cin] (x itself when stride 1 and no padding).
    const direct = sh === 1 && sw === 1 && pt === 0 && pl === 0 && OH === H && OW === W;
    const xs = direct ? undefined : subsample(backend, x, info);
    const xm = view(xs ?? x, [M, Cin]);
    const dym = view(dy, [M, Cout]);
    // dW = xᵀ·dy, or (dyᵀ·x)ᵀ. Natively, the left operand is transposed explicitly: make it the
    // narrower of x and dy. XNNPACK (the wasm fallback) repacks its right-hand operand on every
    // call: there, make that the narrower (2× faster on 160→960 at 3136 rows).
    // When MLAS takes Aᵀ itself, x goes first (no transpose at all).
    const native = nativeFor(Math.min(M, maxTerms()));
    const dyFirst = native ? Math.min(M, maxTerms()) > transAMaxK() && Cout < Cin : Cout > Cin;
    const rowsPerChunk = Math.max(1, maxTerms());
    let total: TensorInfo | undefined;
    for (let m0 = 0; m0 < M; m0 += rowsPerChunk) {
      const m1 = Math.min(M, m0 + rowsPerChunk);
      const xc = m1 - m0 === M ? undefined : rows(backend, xm, m0, m1);
      const dyc = m1 - m0 === M ? undefined : rows(backend, dym, m0, m1);
      const [left, right] = dyFirst ? [dyc ?? dym, xc ?? xm] : [xc ?? xm, dyc ?? dym];
      const g = gemm(backend, left, right, true); // [Cout, Cin] if dyFirst, else [Cin, Cout]
      free(backend, xc, dyc);
      total = accumulate(backend, total, g);
    }
    free(backend, xs);
    if (dyFirst) {
      const t = transpose(backend, total as TensorInfo, [1, 0]);
      free(backend, total);
      total = t;
    }
    return view(total as TensorInfo, [KH, KW, Cin, Cout]);
  }

  // Natively: im2col, one product per chunk of images (at most MAX_COLS column floats and
  // maxTerms() rows, at least one image).
  const K = KH * KW * Cin;
  const perImage = OH * OW;
  const chunk = Math.max(1, Math.min(N, Math.floor(MAX_COLS / (perImage * K)), Math.floor(maxTerms() / perImage)));
  if (nativeFor(Math.min(M, chunk * perImage))) {
    let total: TensorInfo | undefined;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nc = Math.min(chunk, N - n0);
      const cols = im2col(backend, x, info, n0, nc);
      const dyc = nc === N ? undefined : crop(backend, dy, 0, 0, OH, OW, n0, nc);
      const g = gemm(backend, cols, view(dyc ?? dy, [nc * perImage, Cout]), true); // [KH·KW·Cin, Cout]
      free(backend, cols, dyc);
      total = accumulate(backend, total, g);
    }
    return view(total as TensorInfo, [KH, KW, Cin, Cout]);
  }
  return swappedConv(backend, x, dy, info);
}

/**
 * The filter gradient as an XNNPACK convolution with the roles swapped (see the top comment), for
 * when there is no native product.
 */
function swappedConv(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: N, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  // Extent of x the forward pass read, from its first row/column: beyond it, crop; short of it, pad.
  const bottom = (KH - 1) * dh + (OH - 1) * sh + 1 - H - pt;
  const right = (KW - 1) * dw + (OW - 1) * sw + 1 - W - pl;
  const Hc = H + Math.min(bottom, 0);
  const Wc = W + Math.min(right, 0);
  const convAttrs = {
    strides: [dh, dw],
    dilations: [sh, sw],
    pad: [[0, 0], [pt, Math.max(bottom, 0)], [pl, Math.max(right, 0)], [0, 0]],
    dataFormat: 'NHWC',
  };
  // XNNPACK sums each output over nc·OH·OW terms in float32: images go in chunks of at most
  // maxTerms() terms (when an image allows) and the chunks' results are added.
  const chunk = Math.max(1, Math.min(N, Math.floor(maxTerms() / (OH * OW))));
  let total: TensorInfo | undefined;
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nc = Math.min(chunk, N - n0);
    const xc = nc === N && Hc === H && Wc === W ? undefined : crop(backend, x, 0, 0, Hc, Wc, n0, nc);
    const xT = transpose(backend, xc ?? x, [3, 1, 2, 0]); // [Cin, Hc, Wc, nc]
    free(backend, xc);
    const dyc = nc === N ? undefined : crop(backend, dy, 0, 0, OH, OW, n0, nc);
    const dyT = transpose(backend, dyc ?? dy, [1, 2, 0, 3]); // [OH, OW, nc, Cout]
    free(backend, dyc);
    const g = run(backend, 'Conv2D', { x: xT, filter: dyT }, convAttrs); // [Cin, KH, KW, Cout]
    free(backend, xT, dyT);
    total = accumulate(backend, total, g);
  }
  const out = transpose(backend, total as TensorInfo, [1, 2, 0, 3]);
  free(backend, total);
  return out;
}

/**
 * Most terms one float32 GEMM/conv sum may take. Measured on [16,112,112,4] 3×3 with biased data
 * (all-positive inputs): one sum over 200k terms was 2.0e-5 (relative) off the float64 cpu result,
 * chunks of ≤ 65536 terms 6e-6, of ≤ 16384 1e-6. Smaller chunks cost GEMM efficiency.
 */
function maxTerms(): number {
  const v = Number(process.env.GRAFT_CONV_FILTER_TERMS);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : 1 << 16;
}

/** total + g (either may be the first), freeing what it replaces. */
function accumulate(backend: WasmBackend, total: TensorInfo | undefined, g: TensorInfo): TensorInfo {
  if (!total) return g;
  const sum = run(backend, 'Add', { a: total, b: g });
  free(backend, total, g);
  return sum;
}

/** Rows [m0, m1) of a 2-D tensor, copied. */
function rows(backend: WasmBackend, t: TensorInfo, m0: number, m1: number): TensorInfo {
  const n = t.shape[1];
  const out = alloc(backend, [m1 - m0, n]);
  f32(backend, out).set(f32(backend, t).subarray(m0 * n, m1 * n));
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
