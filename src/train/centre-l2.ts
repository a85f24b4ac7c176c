/**
 * GraftCentreL2: y = (x − mean) / max(‖x − mean‖₂, ε) on feature rows — SimpleShot's "CL2N"
 * (Wang et al. 2019): centre by the mean of the base/support features, then L2-normalise. The
 * mean is a non-trainable weight saved with the bundle. Prototype and zero-shot heads are this
 * layer followed by one Dense classifier, so predict, eval, export and --from carry them like any
 * head. The ONNX converter knows it by class name (src/convert/layers/normalize.ts).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

export interface CentreL2Args extends LayerArgs {
  /** Floor of the norm (a row equal to the mean maps to 0, not NaN). Default 1e-12. */
  epsilon?: number;
}

export class GraftCentreL2 extends tfl.layers.Layer {
  static className = 'GraftCentreL2';
  readonly epsilon: number;
  private mean?: tfl.LayerVariable;

  constructor(args: CentreL2Args = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-12;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const d = s[s.length - 1];
    if (typeof d !== 'number') throw new Error(`${this.name}: the feature width must be known`);
    this.mean = this.addWeight('mean', [d], 'float32', tfl.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => {
      const c = tf.sub(x, this.mean!.read());
      const norm = tf.maximum(tf.sqrt(tf.sum(tf.square(c), -1, true)), this.epsilon);
      return tf.div(c, norm);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}

tf.serialization.registerClass(GraftCentreL2);

/** CL2N of n×dim rows in float64 arithmetic (the reference the layer is checked against). */
export function centreL2(x: Float32Array, n: number, dim: number, mean: ArrayLike<number>, epsilon = 1e-12): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const v = x[o + j] - mean[j];
      s += v * v;
    }
    const inv = 1 / Math.max(Math.sqrt(s), epsilon);
    for (let j = 0; j < dim; j++) out[o + j] = (x[o + j] - mean[j]) * inv;
  }
  return out;
}

/** Column means of n×dim rows (float64 accumulation). */
export function rowMean(x: Float32Array, n: number, dim: number): Float64Array {
  const m = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) m[j] += x[i * dim + j];
  for (let j = 0; j < dim; j++) m[j] /= Math.max(1, n);
  return m;
}

/**
 * A head: CL2N(mean) → Dense(kernel dim×k, bias k) giving logits. `kernel`/`bias` are the final
 * classifier's weights (row-major dim×k).
 */
export function centreL2Head(mean: ArrayLike<number>, kernel: Float32Array, bias: Float32Array, name = 'centre_l2_head'): tfl.LayersModel {
  const dim = mean.length;
  const k = bias.length;
  if (kernel.length !== dim * k) throw new Error(`centreL2Head: kernel has ${kernel.length} values, expected ${dim}×${k}`);
  const input = tfl.input({ shape: [dim], name: 'features' });
  const norm = new GraftCentreL2({ name: 'centre_l2' });
  const dense = tfl.layers.dense({ units: k, name: 'logits' });
  const out = dense.apply(norm.apply(input)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name });
  const w = [tf.tensor1d(Float32Array.from(mean)), tf.tensor2d(kernel, [dim, k]), tf.tensor1d(bias)];
  norm.setWeights([w[0]]);
  dense.setWeights([w[1], w[2]]);
  w.forEach((t) => t.dispose());
  return model;
}
