/**
 * im2col and col2im for NHWC convolutions. The input patch of every output pixel is one row,
 *   cols[m, (kh·KW + kw)·C + c] ↔ x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, c]
 * for the images [n0, n0 + nc) (m = ((n − n0)·OH + oh)·OW + ow). With it a convolution's filter
 * gradient is one product, colsᵀ[KH·KW·C, M] × dy[M, Cout], laid out as [KH, KW, C, Cout]; its
 * input gradient for stride > 1 is dy·Wᵀ scattered back by col2im. Rows move by a SIMD copy/add
 * per (tap, image, output row) (`simd.ts`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, ptr } from './backend.js';
import { simdOps } from './simd.js';

/** Calls `f(xByte, colByte, count)` for each run of output columns one tap of one output row reads. */
function eachRun(info: tf.backend_util.Conv2DInfo, n0: number, nc: number, f: (xOff: number, colOff: number, count: number) => void): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = KH * KW * C;
  // Output columns [owMin, owMax) that read inside x, per kw.
  const cols = Array.from({ length: KW }, (_, kw) => {
    const iw0 = kw * dw - pl; // input column of output column 0 for this tap
    return { iw0, owMin: Math.max(0, Math.ceil(-iw0 / sw)), owMax: Math.min(OW, Math.floor((W - 1 - iw0) / sw) + 1) };
  });
  // Image by image, output row by output row, all taps: the input rows they touch stay in cache.
  for (let n = 0; n < nc; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < KW; kw++) {
          const { iw0, owMin, owMax } = cols[kw];
          if (owMax <= owMin) continue;
          f((((n0 + n) * H + ih) * W + owMin * sw + iw0) * C * 4, (((n * OH + oh) * OW + owMin) * K + (kh * KW + kw) * C) * 4, owMax - owMin);
        }
      }
    }
  }
}

/** The columns [nc·OH·OW, KH·KW·C] of images [n0, n0 + nc) of x (zeros where the patch leaves x). */
export function im2col(backend: WasmBackend, x: TensorInfo, info: tf.backend_util.Conv2DInfo, n0: number, nc: number): TensorInfo {
  const C = info.inChannels;
  const K = info.filterHeight * info.filterWidth * C;
  const cols = alloc(backend, [nc * info.outHeight * info.outWidth, K], true);
  const ops = simdOps(backend);
  const [xBase, cBase] = [ptr(backend, x), ptr(backend, cols)];
  eachRun(info, n0, nc, (xOff, colOff, count) => ops.copyRows(cBase + colOff, xBase + xOff, C, count, K * 4, info.strideWidth * C * 4));
  return cols;
}

/** dx[images n0 … n0 + nc) += the columns scattered back onto the input grid (the adjoint of im2col). */
export function col2im(backend: WasmBackend, cols: TensorInfo, dx: TensorInfo, info: tf.backend_util.Conv2DInfo, n0: number, nc: number): void {
  const C = info.inChannels;
  const K = info.filterHeight * info.filterWidth * C;
  const ops = simdOps(backend);
  const [dxBase, cBase] = [ptr(backend, dx), ptr(backend, cols)];
  eachRun(info, n0, nc, (xOff, colOff, count) => ops.accRows(dxBase + xOff, cBase + colOff, C, count, info.strideWidth * C * 4, K * 4));
}
