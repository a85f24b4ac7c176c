/**
 * Tile for the wasm backend as block copies. The stock kernel computes every output element's
 * source index one by one; batch-norm's gradient (used when BatchNorm trains, `--train-bn`) tiles
 * per-channel vectors to a whole activation, [1,1,1,C] → [N,H,W,C]. Here each innermost row is
 * copied once and every repetition is a `copyWithin` (memmove) of an already built block, so the
 * cost is one pass of memory writes. float32/int32 only (4-byte elements); others go to the stock
 * kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, ptr } from './backend.js';
import { runStock } from './stock.js';

/** out = tile(src, reps) for row-major arrays of `shape` (4-byte elements, same buffer type). */
export function tileInto(src: Uint32Array, shape: number[], reps: number[], out: Uint32Array): void {
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]!);
  const inStride = new Array<number>(rank).fill(1);
  const outStride = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) {
    inStride[i] = inStride[i + 1]! * shape[i + 1]!;
    outStride[i] = outStride[i + 1]! * outShape[i + 1]!;
  }
  const fill = (axis: number, s: number, d: number): void => {
    const n = shape[axis]!;
    if (axis === rank - 1) out.set(src.subarray(s, s + n), d);
    else for (let i = 0; i < n; i++) fill(axis + 1, s + i * inStride[axis]!, d + i * outStride[axis]!);
    // The first copy along this axis is built; repeat it, doubling the copied span each time.
    const block = n * (axis === rank - 1 ? 1 : outStride[axis]!);
    const total = block * reps[axis]!;
    for (let done = block; done < total; done *= 2) out.copyWithin(d + done, d, d + Math.min(done, total - done));
  };
  if (rank === 0) out[0] = src[0]!;
  else if (out.length > 0) fill(0, 0, 0);
}

function tile(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const reps = (args.attrs as { reps: number[] }).reps;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || reps.length !== x.shape.length) return runStock('Tile', args);
  const outShape = x.shape.map((d, i) => d * reps[i]!);
  const out = backend.makeOutput(outShape, x.dtype);
  const heap = backend.wasm.HEAPF32.buffer;
  const src = new Uint32Array(heap, ptr(backend, x), tf.util.sizeFromShape(x.shape));
  const dst = new Uint32Array(heap, ptr(backend, out), tf.util.sizeFromShape(outShape));
  tileInto(src, x.shape, reps, dst);
  return out;
}

export const tileConfig: tf.KernelConfig = {
  kernelName: 'Tile',
  backendName: 'wasm',
  kernelFunc: tile as unknown as tf.KernelFunc,
};
