/**
 * im2col for NHWC convolutions: the input patch of every output pixel as one row,
 *   cols[m, (kh·KW + kw)·C + c] = x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, c]   (0 outside x)
 * for the images [n0, n0 + nc) (m = ((n − n0)·OH + oh)·OW + ow). With it a convolution's filter
 * gradient is one product, colsᵀ[KH·KW·C, M] × dy[M, Cout], laid out as [KH, KW, C, Cout].
 * Rows are gathered by a SIMD copy per (image, output row, tap) (`simd.ts`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, ptr } from './backend.js';
import { simdOps } from './simd.js';

export function im2col(backend: WasmBackend, x: TensorInfo, info: tf.backend_util.Conv2DInfo, n0: number, nc: number): TensorInfo {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = KH * KW * C;
  const cols = alloc(backend, [nc * OH * OW, K], true);
  const ops = simdOps(backend);
  const xBase = ptr(backend, x);
  const cBase = ptr(backend, cols);
  for (let kw = 0; kw < KW; kw++) {
    const iw0 = kw * dw - pl; // input column of output column 0 for this tap
    const owMin = Math.max(0, Math.ceil(-iw0 / sw));
    const owMax = Math.min(OW, Math.floor((W - 1 - iw0) / sw) + 1);
    if (owMax <= owMin) continue;
    for (let kh = 0; kh < KH; kh++) {
      const off = (kh * KW + kw) * C;
      for (let n = 0; n < nc; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          const src = xBase + (((n0 + n) * H + ih) * W + owMin * sw + iw0) * C * 4;
          const dst = cBase + (((n * OH + oh) * OW + owMin) * K + off) * 4;
          ops.copyRows(dst, src, C, owMax - owMin, K * 4, sw * C * 4);
        }
      }
    }
  }
  return cols;
}
