/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 * Multiplier 1 with stride > 1: a scatter, dx[..] += dy·w per tap, as SIMD loops (`simd.ts`).
 * Otherwise the input gradient is itself a depthwise convolution (XNNPACK, fast) of dy with the
 * spatially flipped filter:
 *   - stride s > 1: dy is first spread out with s−1 zeros between pixels (a copy in the heap);
 *   - padding: top (KH−1)·dh − pt, bottom IH − 1 + pt − (OH−1)·sh (likewise for width), so the
 *     stride-1 result is exactly IH×IW; a negative pad (explicit padding wider than the filter)
 *     becomes a crop of the result;
 *   - channel multiplier M > 1: the flipped filter is used as [KH,KW,C·M,1] and the C·M results
 *     are summed in groups of M.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, crop, f32, free, ptr, run, view, convGradInfo } from './backend.js';
import { simdOps } from './simd.js';

interface Attrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/**
 * Spread dy [N,OH,OW,C] to [N,(OH−1)·sh+1,(OW−1)·sw+1,C] with zeros between pixels.
 */
function spread(backend: WasmBackend, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [N, OH, OW, C] = dy.shape;
  const HD = (OH - 1) * sh + 1;
  const WD = (OW - 1) * sw + 1;
  const out = alloc(backend, [N, HD, WD, C], true);
  const src = f32(backend, dy);
  const dst = f32(backend, out);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      let s = ((n * OH + oh) * OW) * C;
      let d = ((n * HD + oh * sh) * WD) * C;
      for (let ow = 0; ow < OW; ow++, s += C, d += sw * C) dst.set(src.subarray(s, s + C), d);
    }
  }
  return out;
}

export function depthwiseConv2dNativeBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  assertFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  const info = convGradInfo('DepthwiseConv2dNativeBackpropInput', attrs.inputShape, filter.shape, attrs, true, dy);
  const { batchSize: N, inHeight: IH, inWidth: IW, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CM } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = CM / C;
  const top = (KH - 1) * dh - info.padInfo.top;
  const left = (KW - 1) * dw - info.padInfo.left;
  const bottom = IH - 1 + info.padInfo.top - (OH - 1) * sh;
  const right = IW - 1 + info.padInfo.left - (OW - 1) * sw;

  if (mult === 1 && (sh > 1 || sw > 1)) {
    return scatter(backend, dy, filter, info);
  }
  const spreadDy = sh > 1 || sw > 1 ? spread(backend, dy, sh, sw) : undefined;
  const src = spreadDy ?? dy;
  const flipped = run(backend, 'Reverse', { x: filter }, { dims: [0, 1] });
  const conv = run(backend, 'DepthwiseConv2dNative', { x: src, filter: view(flipped, [KH, KW, CM, 1]) }, {
    strides: [1, 1],
    dilations: [dh, dw],
    pad: [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]],
  });
  free(backend, spreadDy, flipped);
  let out = conv;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    out = crop(backend, conv, Math.max(-top, 0), Math.max(-left, 0), IH, IW);
    free(backend, conv);
  }
  if (mult > 1) {
    const summed = run(backend, 'Sum', { x: view(out, [N, IH, IW, C, mult]) }, { axis: [4], keepDims: false });
    free(backend, out);
    out = summed;
  }
  return view(out, [N, IH, IW, C]);
}

/**
 * Multiplier 1, any stride: dx[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, c] += dy[n,oh,ow,c]·w[kh,kw,c],
 * one SIMD call per (tap, image, output row). Exact flops, unlike the zero-spread convolution.
 */
function scatter(backend: WasmBackend, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: N, inHeight: IH, inWidth: IW, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dx = alloc(backend, [N, IH, IW, C], true);
  const ops = simdOps(backend);
  const dxBase = ptr(backend, dx);
  const dyBase = ptr(backend, dy);
  const wBase = ptr(backend, filter);
  const pix = C * 4;
  // Image by image, output row by output row, all taps: the dx rows they hit stay in cache.
  const cols = Array.from({ length: KW }, (_, kw) => {
    const dx0 = kw * dw - pl; // input column of output column 0 for this tap
    return { dx0, owMin: Math.max(0, Math.ceil(-dx0 / sw)), owMax: Math.min(OW, Math.floor((IW - 1 - dx0) / sw) + 1) };
  });
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= IH) continue;
        for (let kw = 0; kw < KW; kw++) {
          const { dx0, owMin, owMax } = cols[kw];
          if (owMax <= owMin) continue;
          ops.mulAddRows(
            dxBase + ((n * IH + ih) * IW + owMin * sw + dx0) * pix, dyBase + ((n * OH + oh) * OW + owMin) * pix,
            wBase + (kh * KW + kw) * pix, C, owMax - owMin, sw * pix, pix);
        }
      }
    }
  }
  return dx;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
