/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 *   dW[kh,kw,c,q] = Σ_{n,oh,ow} x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, c] · dy[n,oh,ow, c·M+q]
 *
 * A per-channel dot product over all output positions, for each tap: no wasm kernel does that
 * quickly (slice+mul+sum per tap, or a depthwise conv with dy as a huge filter, both ran 50+ ms on
 * [16,14,14,384]), so it runs as one SIMD loop over contiguous channel rows (`simd.ts`), one call
 * per (tap, image, output row). Channel multiplier M > 1: x's channels are first repeated M times.
 * Any stride, dilation, 'same'/'valid'/explicit padding; NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, f32, free, ptr, run, view, convGradInfo } from './backend.js';
import { simdOps } from './simd.js';

interface Attrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export function depthwiseConv2dNativeBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  assertFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  const info = convGradInfo('DepthwiseConv2dNativeBackpropFilter', x.shape, attrs.filterShape, attrs, true, dy);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CM } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const mult = CM / C;

  // x with each channel repeated `mult` times, so that its channel c·M+q lines up with dy's.
  let xr: TensorInfo = x;
  let xrOwned: TensorInfo | undefined;
  if (mult > 1) {
    xrOwned = run(backend, 'Tile', { x: view(x, [N * H * W, C, 1]) }, { reps: [1, 1, mult] });
    xr = view(xrOwned, [N, H, W, CM]);
  }
  const dW = alloc(backend, [KH, KW, C, mult], true);
  // Sums are built in levels — a row of output pixels (in registers), an image (in `part`, one row
  // of CM per tap), then the batch (in dW) — which keeps float32 rounding error near that of a
  // pairwise sum. Image by image, output row by output row, all taps: the few input rows a tap row
  // reads stay in cache (tap-major order streamed the whole tensor once per tap).
  const taps = KH * KW;
  const part = alloc(backend, [taps, CM]);
  const ops = simdOps(backend);
  const xBase = ptr(backend, xr);
  const dyBase = ptr(backend, dy);
  const accBase = ptr(backend, dW);
  const partBase = ptr(backend, part);
  const row = CM * 4; // bytes per pixel
  // Output columns [owMin, owMax) that read inside x, per kw.
  const cols = Array.from({ length: KW }, (_, kw) => {
    const dx0 = kw * dw - pl; // input column of output column 0 for this tap
    return { dx0, owMin: Math.max(0, Math.ceil(-dx0 / sw)), owMax: Math.min(OW, Math.floor((W - 1 - dx0) / sw) + 1) };
  });
  for (let n = 0; n < N; n++) {
    f32(backend, part).fill(0);
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < KW; kw++) {
          const { dx0, owMin, owMax } = cols[kw];
          if (owMax <= owMin) continue;
          const xAddr = xBase + ((n * H + ih) * W + owMin * sw + dx0) * row;
          const dyAddr = dyBase + ((n * OH + oh) * OW + owMin) * row;
          ops.dotAcc(partBase + (kh * KW + kw) * row, xAddr, dyAddr, CM, owMax - owMin, sw * row, row);
        }
      }
    }
    ops.addTo(accBase, partBase, taps * CM);
  }
  free(backend, part);
  free(backend, xrOwned);
  return dW;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
