/**
 * Small helpers for writing tfjs kernels for the wasm backend out of the backend's own kernels.
 *
 * Kernel functions receive `TensorInfo`s (not Tensors). Inside them we call other wasm kernels
 * directly through their registered `kernelFunc` (no engine bookkeeping, no tape), and free every
 * intermediate with `backend.disposeData`. Data lives in the wasm heap; `f32(backend, info)` gives
 * a Float32Array view of it. Any allocation may grow (and so detach) the heap: take views only
 * after the allocations they must survive.
 */
import * as tf from '@tensorflow/tfjs-core';
import { runStock, stockKernel } from './stock.js';

export type TensorInfo = tf.TensorInfo;
export type NamedAttrMap = tf.NamedAttrMap;

/** The parts of tfjs-backend-wasm's BackendWasm that the kernels use. */
export interface WasmBackend {
  wasm: {
    HEAPF32: Float32Array;
    asm: { memory: WebAssembly.Memory };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Call another kernel of the wasm backend directly. */
export function run(backend: WasmBackend, kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
  const k = tf.getKernel(kernelName, 'wasm');
  if (!k) throw new Error(`graft: wasm kernel ${kernelName} is not registered`);
  const out = k.kernelFunc({ inputs, attrs, backend: backend as unknown as tf.KernelBackend });
  if (Array.isArray(out)) throw new Error(`graft: wasm kernel ${kernelName} returned several outputs`);
  return out;
}

/** Free intermediates (each must be owned by the caller: not a `view` of another). */
export function free(backend: WasmBackend, ...infos: (TensorInfo | undefined)[]): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

/** The same data under another shape, without a new reference: never free a view itself. */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** A new float32 tensor in the wasm heap (uninitialised unless `zero`). */
export function alloc(backend: WasmBackend, shape: number[], zero = false): TensorInfo {
  const t = backend.makeOutput(shape, 'float32');
  if (zero) f32(backend, t).fill(0);
  return t;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function ptr(backend: WasmBackend, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error('graft: tensor data is not in the wasm backend');
  return d.memoryOffset;
}

/** Float32 view of a tensor's data (valid until the next allocation). */
export function f32(backend: WasmBackend, t: TensorInfo): Float32Array {
  const heap = backend.wasm.HEAPF32;
  return new Float32Array(heap.buffer, ptr(backend, t), tf.util.sizeFromShape(t.shape));
}

export function transpose(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return run(backend, 'Transpose', { x }, { perm });
}

/** a[m,k] × b[k,n] with no transpose flags (the stock wasm kernel's fast XNNPACK path). */
export function matMul(backend: WasmBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  const args = { inputs: { a, b }, attrs: { transposeA: false, transposeB: false }, backend };
  // graft's own BatchMatMul may come back here (gemm's fallback): call the stock one.
  return stockKernel('BatchMatMul') ? runStock('BatchMatMul', args) : run(backend, 'BatchMatMul', args.inputs, args.attrs);
}

export function assertFloat32(kernel: string, ...infos: TensorInfo[]): void {
  for (const t of infos) {
    if (t.dtype !== 'float32') throw new Error(`graft ${kernel} (wasm): float32 tensors only, got ${t.dtype}`);
  }
}

export function assertNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`graft ${kernel} (wasm): only NHWC is supported, got dataFormat ${String(dataFormat)}`);
  }
}

/** The convolution attributes the gradient kernels receive. */
export interface ConvGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** NHWC convolution geometry for a gradient kernel, with dy's shape checked against its output. */
export function convGradInfo(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: ConvGradAttrs,
  depthwise: boolean,
  dy: TensorInfo,
): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode, depthwise, 'channelsLast');
  const { batchSize: N, outHeight: OH, outWidth: OW, outChannels: C } = info;
  if (dy.shape[0] !== N || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C) {
    throw new Error(`graft ${kernel}: dy shape ${dy.shape} does not match [${N},${OH},${OW},${C}]`);
  }
  return info;
}

/** [h, w] from a number or pair attribute. */
export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v == null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[1]];
}

/** Rows [top, top+h) and columns [left, left+w) of images [n0, n0+nc) of an NHWC tensor. */
export function crop(backend: WasmBackend, t: TensorInfo, top: number, left: number, h: number, w: number, n0 = 0, nc = t.shape[0] - n0): TensorInfo {
  const [, H, W, C] = t.shape;
  const out = alloc(backend, [nc, h, w, C]);
  const src = f32(backend, t);
  const dst = f32(backend, out);
  const run = w * C;
  if (top === 0 && left === 0 && h === H && w === W) {
    dst.set(src.subarray(n0 * H * W * C, (n0 + nc) * H * W * C));
    return out;
  }
  for (let n = 0; n < nc; n++) {
    for (let r = 0; r < h; r++) {
      const s = (((n0 + n) * H + top + r) * W + left) * C;
      dst.set(src.subarray(s, s + run), (n * h + r) * run);
    }
  }
  return out;
}

/** x[n, oh·sh − pt, ow·sw − pl, :] for every output pixel (zeros where that is padding). */
export function subsample(backend: WasmBackend, x: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const out = alloc(backend, [N, OH, OW, C], pt > 0 || pl > 0 || (OH - 1) * sh - pt >= H || (OW - 1) * sw - pl >= W);
  const src = f32(backend, x);
  const dst = f32(backend, out);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const ih = oh * sh - pt;
      if (ih < 0 || ih >= H) continue;
      for (let ow = 0; ow < OW; ow++) {
        const iw = ow * sw - pl;
        if (iw < 0 || iw >= W) continue;
        const s = ((n * H + ih) * W + iw) * C;
        dst.set(src.subarray(s, s + C), ((n * OH + oh) * OW + ow) * C);
      }
    }
  }
  return out;
}
