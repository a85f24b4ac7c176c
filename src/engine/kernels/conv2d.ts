/**
 * Conv2D and FusedConv2D (forward) for the wasm backend: a 1×1 convolution is one GEMM,
 * x[N·OH·OW, Cin] × W[Cin, Cout] (x first subsampled if strided or padded), which runs natively
 * (`gemm.ts`; 2–4× the stock XNNPACK convolution when Cin ≥ NATIVE_MIN_K). FusedConv2D's bias and
 * activation (linear, relu, relu6, elu, sigmoid, leakyrelu) follow as the backend's own kernels,
 * except bias + relu / relu6: one SIMD pass in place (`addClipRows`).
 * Everything else — other filter sizes, fewer input channels, PReLU, NCHW, or no native GEMM —
 * goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackend, type TensorInfo, free, ptr, run, subsample, view } from './backend.js';
import { simdOps } from './simd.js';
import { gemm, nativeFor } from './gemm.js';
import { runStock } from './stock.js';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
}

/** FusedConv2D activations applied after the product: the kernel that computes each. */
const ACTIVATION: Record<string, string | undefined> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid', leakyrelu: 'LeakyRelu' };
/** Activations that are a clip: with a bias, added and clipped in one SIMD pass (`addClipRows`). */
const CLIP: Record<string, [number, number] | undefined> = { relu: [0, Infinity], relu6: [0, 6] };

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap };

function conv1x1(name: string, args: Args): TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  const activation = attrs.activation ?? 'linear';
  const fits =
    filter.shape[0] === 1 && filter.shape[1] === 1 && x.shape.length === 4 && x.dtype === 'float32' && filter.dtype === 'float32' &&
    (attrs.dataFormat ?? 'NHWC') === 'NHWC' && !preluActivationWeights && (activation === 'linear' || ACTIVATION[activation] !== undefined) &&
    (!bias || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === filter.shape[3]));
  if (!fits || !nativeFor(filter.shape[2])) return runStock(name, args);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1,
    attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = info;
  const direct = OH === H && OW === W && info.strideHeight === 1 && info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0;
  const xs = direct ? undefined : subsample(backend, x, info);
  let y = gemm(backend, view(xs ?? x, [N * OH * OW, Cin]), view(filter, [Cin, Cout]));
  free(backend, xs);
  const clip = CLIP[activation];
  if (bias && clip) {
    // bias and ReLU/ReLU6 in one pass, in place on the product's output
    simdOps(backend).addClipRows(ptr(backend, y), ptr(backend, y), ptr(backend, bias), Cout, N * OH * OW, clip[0], clip[1]);
    return view(y, [N, OH, OW, Cout]);
  }
  if (bias) {
    const t = run(backend, 'Add', { a: y, b: bias });
    free(backend, y);
    y = t;
  }
  const act = ACTIVATION[activation];
  if (act) {
    const t = run(backend, act, { x: y }, act === 'LeakyRelu' ? { alpha: attrs.leakyreluAlpha || 0 } : {});
    free(backend, y);
    y = t;
  }
  return view(y, [N, OH, OW, Cout]);
}

export const conv2DConfig: tf.KernelConfig = {
  kernelName: 'Conv2D',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => conv1x1('Conv2D', args)) as unknown as tf.KernelFunc,
};

export const fusedConv2DConfig: tf.KernelConfig = {
  kernelName: 'FusedConv2D',
  backendName: 'wasm',
  kernelFunc: ((args: Args) => conv1x1('FusedConv2D', args)) as unknown as tf.KernelFunc,
};
