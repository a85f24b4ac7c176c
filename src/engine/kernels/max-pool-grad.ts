/**
 * MaxPoolGrad for the wasm backend — a replacement for the stock kernel, which loses the gradient
 * of windows whose values are all negative (on randomNormal [2,8,8,4], 2×2 stride 2, the input
 * gradient of sum(maxPool(x)) sums to 120 instead of 128; on −|x| to 1 instead of 128).
 *
 * Same rule as the cpu backend: each output's gradient goes to the first maximum of its window in
 * row-major order (NaN never wins; a window of only NaN/−∞ passes no gradient). One SIMD call
 * (`simd.ts`) per output pixel scans its window four channels at a time, keeping a running max and
 * its address per channel, then adds dy there; channels past a multiple of 4 take a JS loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, assertFloat32, f32, ptr } from './backend.js';
import { simdOps } from './simd.js';

interface Attrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  assertFloat32('MaxPoolGrad', dy, input);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (dy.shape[0] !== N || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C) {
    throw new Error(`graft MaxPoolGrad: dy shape ${dy.shape} does not match [${N},${OH},${OW},${C}]`);
  }
  const dx = alloc(backend, [N, H, W, C], true);
  const ops = simdOps(backend);
  const xBase = ptr(backend, input);
  const dyBase = ptr(backend, dy);
  const delta = ptr(backend, dx) - xBase;
  const c4 = C & ~3;
  const pix = C * 4;
  // Channels past the last multiple of 4 (if any) go through this JS loop.
  const xv = c4 < C ? f32(backend, input) : undefined;
  const dyv = c4 < C ? f32(backend, dy) : undefined;
  const dxv = c4 < C ? f32(backend, dx) : undefined;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - pt;
      const hMin = Math.max(0, h0);
      const hMax = Math.min(H, h0 + KH);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sw - pl;
        const wMin = Math.max(0, w0);
        const wMax = Math.min(W, w0 + KW);
        if (hMax <= hMin || wMax <= wMin) continue;
        const first = (n * H + hMin) * W + wMin; // pixel index of the window's first valid pixel
        const o = (n * OH + oh) * OW + ow;
        if (c4 > 0) ops.maxPoolPixel(xBase + first * pix, dyBase + o * pix, delta, c4, hMax - hMin, wMax - wMin, W * pix, pix);
        if (xv && dyv && dxv) {
          for (let c = c4; c < C; c++) {
            let best = -Infinity;
            let at = -1;
            for (let h = hMin; h < hMax; h++) {
              for (let w = wMin; w < wMax; w++) {
                const i = ((n * H + h) * W + w) * C + c;
                if (xv[i] > best) {
                  best = xv[i];
                  at = i;
                }
              }
            }
            if (at >= 0) dxv[at] += dyv[o * C + c];
          }
        }
      }
    }
  }
  return dx;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
