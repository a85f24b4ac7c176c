/** Shared pieces of the tfjs → ONNX converter: types, the graph builder, Keras config and weight helpers. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { floatTensor, int64Tensor, type AttributeProto, type NodeProto, type TensorProto } from '../onnx-proto.js';

export type SymbolicTensor = tfl.SymbolicTensor;
export type Layer = SymbolicTensor['sourceLayer'];
export type Config = Record<string, unknown>;

/** A converted value: its ONNX name plus its Keras (NHWC / [N,D]) shape. */
export interface Val {
  name: string;
  /** Keras shape, batch first (null = unknown). Rank 4 values are stored NCHW in the graph. */
  shape: (number | null)[];
  /** A ZeroPadding2D folded into the consuming convolution: [top, bottom, left, right]. */
  pendingPad?: [number, number, number, number];
}


export function fail(layer: Layer, reason: string): never {
  throw new Error(`cannot convert layer ${layer.name} (${layer.getClassName()}) to ONNX: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// Config helpers

export function pair(layer: Layer, cfg: Config, key: string, dflt?: [number, number]): [number, number] {
  const v = cfg[key];
  if (v == null && dflt) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return [v[0], v[1]];
  return fail(layer, `unexpected ${key}=${JSON.stringify(v)}`);
}

export function checkChannelsLast(layer: Layer, cfg: Config): void {
  const df = cfg.dataFormat ?? cfg.data_format;
  if (df != null && df !== 'channelsLast' && df !== 'channels_last') fail(layer, `dataFormat ${String(df)} is not supported (only channelsLast)`);
}

/** TF padding for one spatial dim: [before, after]; null if 'same' with an unknown size. */
export function tfPads(inSize: number | null, k: number, stride: number, dilation: number, padding: string): [number, number] | null {
  if (padding === 'valid') return [0, 0];
  if (inSize == null) return null;
  const eff = (k - 1) * dilation + 1;
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + eff - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

export function irVersionFor(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export const attr = {
  i: (name: string, i: number): AttributeProto => ({ name, value: { type: 'int', i } }),
  f: (name: string, f: number): AttributeProto => ({ name, value: { type: 'float', f } }),
  s: (name: string, s: string): AttributeProto => ({ name, value: { type: 'string', s } }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, value: { type: 'ints', ints } }),
};

// ---------------------------------------------------------------------------------------------
// Weights

/** The layer's weights by Keras short name ('kernel', 'bias', 'gamma', 'moving_mean', …). */
export function layerWeights(layer: Layer): Map<string, { shape: number[]; data: Float32Array }> {
  const values = layer.getWeights();
  const vars = layer.weights;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  values.forEach((t, i) => {
    const v = vars[i];
    const full = v?.originalName ?? v?.name ?? `w${i}`;
    let short = full.slice(full.lastIndexOf('/') + 1);
    if (!KNOWN_WEIGHTS.has(short)) short = short.replace(/_\d+$/, '');
    if (t.dtype !== 'float32') fail(layer, `weight ${full} has dtype ${t.dtype}`);
    out.set(short, { shape: t.shape.slice(), data: t.dataSync() as Float32Array });
  });
  return out;
}

const KNOWN_WEIGHTS = new Set([
  'kernel',
  'bias',
  'depthwise_kernel',
  'pointwise_kernel',
  'gamma',
  'beta',
  'moving_mean',
  'moving_variance',
  'alpha',
]);

export function weight(layer: Layer, w: Map<string, { shape: number[]; data: Float32Array }>, key: string, rank?: number): { shape: number[]; data: Float32Array } {
  const v = w.get(key);
  if (!v) fail(layer, `weight '${key}' not found (have ${[...w.keys()].join(', ') || 'none'})`);
  if (rank != null && v.shape.length !== rank) fail(layer, `weight '${key}' has shape [${v.shape}], expected rank ${rank}`);
  return v;
}

/** BatchNorm as per-channel y = x * scale + shift (float64). */
export function bnAffine(layer: Layer, channels: number): { scale: Float64Array; shift: Float64Array; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number } {
  const cfg = layer.getConfig() as Config;
  const w = layerWeights(layer);
  const epsilon = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-3;
  const mean = weight(layer, w, 'moving_mean', 1).data;
  const variance = weight(layer, w, 'moving_variance', 1).data;
  const gamma = cfg.scale === false ? new Float32Array(channels).fill(1) : weight(layer, w, 'gamma', 1).data;
  const beta = cfg.center === false ? new Float32Array(channels) : weight(layer, w, 'beta', 1).data;
  for (const [n, a] of [['moving_mean', mean], ['moving_variance', variance], ['gamma', gamma], ['beta', beta]] as const) {
    if (a.length !== channels) fail(layer, `${n} has ${a.length} values for ${channels} channels`);
  }
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
    shift[c] = beta[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift, gamma, beta, mean, variance, epsilon };
}

// ---------------------------------------------------------------------------------------------
// Graph builder

export class Builder {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly scalars = new Map<number, string>();

  reserve(name: string): void {
    this.used.add(name);
  }

  uniq(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  node(opType: string, inputs: string[], output: string, attribute: AttributeProto[] = [], exact = false): string {
    const out = exact ? output : this.uniq(output);
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute });
    return out;
  }

  float(base: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.uniq(base);
    this.inits.push(floatTensor(name, dims, data));
    return name;
  }

  int64(base: string, dims: number[], data: number[]): string {
    const name = this.uniq(base);
    this.inits.push(int64Tensor(name, dims, data));
    return name;
  }

  /** A shared float scalar initializer. */
  scalar(v: number): string {
    let n = this.scalars.get(v);
    if (!n) {
      n = this.float(`const_${v}`, [], [v]);
      this.scalars.set(v, n);
    }
    return n;
  }
}

/**
 * The output tensor of `layer` within `model`'s own graph (found by walking back from the model
 * outputs, so a layer that is also used elsewhere still resolves to this model's node).
 */
export function findOutput(model: tfl.LayersModel, layer: Layer): SymbolicTensor {
  const found: SymbolicTensor[] = [];
  const seen = new Set<number>();
  const stack = [...model.outputs];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    if (t.sourceLayer === layer) found.push(t);
    stack.push(...(t.inputs ?? []));
  }
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new Error(`layersModelToOnnx: layer '${layer.name}' is used ${found.length} times in the model (or has several outputs); its output is ambiguous`);
  }
  try {
    const o = layer.output;
    if (!Array.isArray(o)) return o;
    if (o.length === 1) return o[0]!;
    throw new Error(`it has ${o.length} outputs`);
  } catch (e) {
    throw new Error(`layersModelToOnnx: cannot use layer '${layer.name}' as the output: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The converter

export const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);
export const CONV_CLASSES = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

/** A tfjs/Keras conv kernel [kh, kw, in, out] (HWIO) → ONNX's [out, in, kh, kw] (OIHW). */
export function hwioToOihw(k: ArrayLike<number>, kh: number, kw: number, ci: number, co: number): Float32Array {
  const W = new Float32Array(kh * kw * ci * co);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++) W[((o * ci + c) * kh + i) * kw + j] = k[((i * kw + j) * ci + c) * co + o]!;
  return W;
}
