/**
 * `convAct`: y = act(conv(x, filter) + bias) as one differentiable op (kernel `GraftConvAct`),
 * for a regular or a depthwise 2-D convolution (NHWC, dilation 1) with act linear, relu or relu6.
 *
 * Forward it is the backend's FusedConv2D / FusedDepthwiseConv2D (bias and clip in the
 * convolution's own output pass; on wasm a 1×1 filter is graft's native product + one SIMD
 * bias-and-clip pass). tfjs-core's fused convolution has no gradient for relu6 and computes
 * every input's gradient at once; this op's gradient is registered per input, so the tape asks
 * only for the ones it needs (a tail's first convolution skips its input gradient):
 *   dz = dy where lo < y < hi (0 < y for relu, 0 < y < 6 for relu6; all of dy for linear),
 *   dx = ConvBackpropInput(dz, filter), dfilter = ConvBackpropFilter(x, dz), dbias = Σ dz.
 * The activation mask is taken from the output, so a pre-activation of exactly 6 gets gradient 0
 * (as in PyTorch's hardtanh; tfjs's relu6 gradient passes it).
 */
import { tf } from './tfjs.js';
import { MASK_GRAD_KERNEL } from './kernels/activation-grad.js';

export type ConvActivation = 'linear' | 'relu' | 'relu6';
/** 'same', 'valid' or explicit NHWC padding [[0, 0], [top, bottom], [left, right], [0, 0]]. */
export type ConvPad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvActOptions {
  depthwise: boolean;
  strides: number | [number, number];
  pad: ConvPad;
  activation: ConvActivation;
}

export const CONV_ACT_KERNEL = 'GraftConvAct';
/** The smallest positive float32, and the largest float32 below 6: the open mask bounds. */
const TINY = 2 ** -149;
const BELOW_6 = 6 - 2 ** -21;

type Attrs = { depthwise: boolean; strides: number | [number, number]; pad: ConvPad; activation: ConvActivation };

function forward(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }, backendName: string): tf.TensorInfo {
  const { depthwise, strides, pad, activation } = args.attrs as unknown as Attrs;
  const kernel = tf.getKernel(depthwise ? 'FusedDepthwiseConv2D' : 'FusedConv2D', backendName);
  if (!kernel) throw new Error(`${CONV_ACT_KERNEL}: backend ${backendName} has no fused convolution`);
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, activation, leakyreluAlpha: 0 };
  return kernel.kernelFunc({ inputs: args.inputs, backend: args.backend as never, attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
}

/** dy masked where the activation is flat, from the op's output y. */
function activationMask(dy: tf.Tensor, y: tf.Tensor, activation: ConvActivation): tf.Tensor {
  if (activation === 'linear') return dy;
  const hi = activation === 'relu6' ? BELOW_6 : Infinity;
  if (tf.getBackend() === 'wasm' && tf.getKernel(MASK_GRAD_KERNEL, 'wasm')) return tf.engine().runKernel(MASK_GRAD_KERNEL, { dy, x: y }, { lo: TINY, hi }) as tf.Tensor;
  const inside = activation === 'relu6' ? tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)) : tf.greater(y, 0);
  return tf.where(inside, dy, tf.zerosLike(dy));
}

const gradConfig: tf.GradConfig = {
  kernelName: CONV_ACT_KERNEL,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dyIn, saved, attrsIn) => {
    const [x, filter, y] = saved;
    const { depthwise, strides, pad, activation } = attrsIn as unknown as Attrs;
    const dz = activationMask(dyIn as tf.Tensor, y, activation);
    const e = tf.engine();
    const common = { strides, pad, dilations: [1, 1] };
    if (depthwise) {
      return {
        x: () => e.runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dz, filter }, { ...common, inputShape: x.shape }) as tf.Tensor,
        filter: () => e.runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: dz }, { ...common, filterShape: filter.shape }) as tf.Tensor,
        bias: () => tf.sum(dz, [0, 1, 2]),
      };
    }
    return {
      x: () => e.runKernel('Conv2DBackpropInput', { dy: dz, filter }, { ...common, dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor,
      filter: () => e.runKernel('Conv2DBackpropFilter', { x, dy: dz }, { ...common, dataFormat: 'NHWC', filterShape: filter.shape }) as tf.Tensor,
      bias: () => tf.sum(dz, [0, 1, 2]),
    };
  },
};

let registered = false;

function register(): void {
  if (registered) return;
  for (const backendName of ['wasm', 'cpu']) {
    if (tf.getKernel(CONV_ACT_KERNEL, backendName)) continue;
    tf.registerKernel({ kernelName: CONV_ACT_KERNEL, backendName, kernelFunc: ((args: never) => forward(args, backendName)) as unknown as tf.KernelFunc });
  }
  tf.registerGradient(gradConfig);
  registered = true;
}

/** act(conv(x, filter) + bias), NHWC; bias [Cout]. See the module comment for the gradient. */
export function convAct(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, o: ConvActOptions): tf.Tensor4D {
  register();
  if (!['wasm', 'cpu'].includes(tf.getBackend())) {
    // Another backend: the same function from tfjs-core ops (their own gradients).
    const z = o.depthwise ? tf.depthwiseConv2d(x, filter, o.strides, o.pad) : tf.conv2d(x, filter, o.strides, o.pad);
    const s = tf.add(z, bias);
    return (o.activation === 'relu6' ? tf.relu6(s) : o.activation === 'relu' ? tf.relu(s) : s) as tf.Tensor4D;
  }
  const attrs = { depthwise: o.depthwise, strides: o.strides, pad: o.pad, activation: o.activation };
  return tf.engine().runKernel(CONV_ACT_KERNEL, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
