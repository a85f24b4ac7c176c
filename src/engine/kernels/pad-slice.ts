/**
 * PadV2 and Slice of NHWC tensors in height and width only (whole images, whole channels) as row
 * copies: Keras' ZeroPadding2D before a stride-2 convolution and its gradient (a slice). The stock
 * kernels index element by element (~6 ns per element: 13 ms for [16,14,14,576] under load).
 * Other ranks, axes and dtypes go to the stock kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, alloc, crop, f32 } from './backend.js';
import { runStock } from './stock.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap };

function padV2(args: Args): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { paddings, constantValue } = args.attrs as { paddings: [number, number][]; constantValue: number };
  const spatial = x.shape.length === 4 && x.dtype === 'float32' && paddings.length === 4 &&
    [0, 3].every((ax) => paddings[ax][0] === 0 && paddings[ax][1] === 0) && paddings.flat().every((p) => p >= 0);
  if (!spatial) return runStock('PadV2', args);
  const [N, H, W, C] = x.shape;
  const [[top, bottom], [left, right]] = [paddings[1], paddings[2]];
  const [OH, OW] = [H + top + bottom, W + left + right];
  const out = alloc(backend, [N, OH, OW, C]);
  const src = f32(backend, x);
  const dst = f32(backend, out);
  dst.fill(constantValue);
  const run = W * C;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const s = (n * H + h) * run;
      dst.set(src.subarray(s, s + run), ((n * OH + h + top) * OW + left) * C);
    }
  }
  return out;
}

function slice(args: Args): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  if (x.shape.length !== 4 || x.dtype !== 'float32') return runStock('Slice', args);
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
  if (b[3] !== 0 || s[3] !== x.shape[3]) return runStock('Slice', args);
  return crop(backend, x, b[1], b[2], s[1], s[2], b[0], s[0]);
}

export const padV2Config: tf.KernelConfig = { kernelName: 'PadV2', backendName: 'wasm', kernelFunc: padV2 as unknown as tf.KernelFunc };
export const sliceConfig: tf.KernelConfig = { kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice as unknown as tf.KernelFunc };
