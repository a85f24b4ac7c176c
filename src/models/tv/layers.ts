/**
 * tfjs layers graft defines for torchvision architectures that tfjs-layers has no layer for.
 * The ONNX converter (src/convert/tfjs-to-onnx.ts) knows them by class name.
 *
 * - GraftHardSigmoid: PyTorch `nn.Hardsigmoid`, relu6(x + 3) / 6 (tfjs's 'hardSigmoid'
 *   activation is Keras's 0.2·x + 0.5, a different function).
 * - GraftHardSwish: PyTorch `nn.Hardswish`, x · relu6(x + 3) / 6.
 * - GraftAdaptiveAvgPool2D: PyTorch `nn.AdaptiveAvgPool2d(outputSize)` for a known input size:
 *   output cell (i, j) averages input rows floor(i·H/oh) … ceil((i+1)·H/oh)−1 and the same for
 *   columns, exactly as torch does (windows may overlap when H is not a multiple of oh).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';

type Kwargs = Record<string, unknown>;

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

export class GraftHardSigmoid extends tfl.layers.Layer {
  static className = 'GraftHardSigmoid';
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.div(tf.relu6(tf.add(single(inputs), 3)), 6));
  }
}

export class GraftHardSwish extends tfl.layers.Layer {
  static className = 'GraftHardSwish';
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      return tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));
    });
  }
}

/** Window [start, end) of output index i when pooling `size` inputs into `out` outputs (torch). */
export function adaptiveWindow(i: number, size: number, out: number): [number, number] {
  return [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
}

/**
 * The adaptive pooling as a matrix P[H·W, oh·ow]: pooled[c, o] = Σ_p x[c, p] · P[p, o], with
 * p = h·W + w and o = i·ow + j.
 */
export function adaptivePoolMatrix(h: number, w: number, oh: number, ow: number): Float32Array {
  const P = new Float32Array(h * w * oh * ow);
  for (let i = 0; i < oh; i++) {
    const [h0, h1] = adaptiveWindow(i, h, oh);
    for (let j = 0; j < ow; j++) {
      const [w0, w1] = adaptiveWindow(j, w, ow);
      const inv = 1 / ((h1 - h0) * (w1 - w0));
      for (let y = h0; y < h1; y++) for (let x = w0; x < w1; x++) P[(y * w + x) * oh * ow + i * ow + j] = inv;
    }
  }
  return P;
}

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

export interface AdaptiveAvgPoolArgs extends LayerArgs {
  outputSize: [number, number];
}

export class GraftAdaptiveAvgPool2D extends tfl.layers.Layer {
  static className = 'GraftAdaptiveAvgPool2D';
  readonly outputSize: [number, number];
  private matrix?: { key: string; t: tf.Tensor2D };

  constructor(args: AdaptiveAvgPoolArgs) {
    super(args);
    this.outputSize = [args.outputSize[0], args.outputSize[1]];
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [s[0] ?? null, this.outputSize[0], this.outputSize[1], s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = single(inputs) as tf.Tensor4D;
    const [n, h, w, c] = x.shape;
    const [oh, ow] = this.outputSize;
    if (h === oh && w === ow) return tf.clone(x);
    if (h % oh === 0 && w % ow === 0) return tf.avgPool(x, [h / oh, w / ow], [h / oh, w / ow], 'valid');
    const key = `${h}x${w}`;
    if (this.matrix?.key !== key) {
      this.matrix?.t.dispose();
      this.matrix = { key, t: tf.keep(tf.tensor2d(adaptivePoolMatrix(h, w, oh, ow), [h * w, oh * ow])) };
    }
    const P = this.matrix.t;
    return tf.tidy(() => {
      const nc = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h * w]);
      const pooled = tf.reshape(tf.matMul(nc, P), [n, c, oh, ow]);
      return tf.transpose(pooled, [0, 2, 3, 1]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputSize: [...this.outputSize] };
  }

  override dispose(): ReturnType<tfl.layers.Layer['dispose']> {
    this.matrix?.t.dispose();
    this.matrix = undefined;
    return super.dispose();
  }
}

tf.serialization.registerClass(GraftHardSigmoid);
tf.serialization.registerClass(GraftHardSwish);
tf.serialization.registerClass(GraftAdaptiveAvgPool2D);
