/**
 * graft's own tfjs LayersModel → ONNX converter, so frozen backbones run in onnxruntime.
 *
 * It walks the Keras functional graph backwards from the layer named by `opts.output` (the *cut
 * point*) and converts only that sub-graph. The graph boundary stays NHWC (what tfjs hands over);
 * inside, activations are NCHW, which is what ONNX convolutions and ORT's fast kernels expect.
 *
 * - The input is float32 `[N,H,W,C]` with a symbolic batch dim `N`, transposed to NCHW once.
 * - The output is NHWC if 4-D, `[N,D]` if 2-D. `Flatten` of a 4-D tensor transposes back to NHWC
 *   first, so the element order equals Keras's.
 * - Frozen BatchNormalization is folded into the preceding Conv/DepthwiseConv/Dense when that is
 *   its only consumer; a ZeroPadding2D feeding only a convolution becomes that convolution's pads.
 * - 'same' padding is computed the way TF does (extra padding at the end), as explicit pads.
 * - Elementwise merges (Add, Multiply, …) broadcast size-1 dims, e.g. a squeeze-excitation gate
 *   [N,1,1,C] times an [N,H,W,C] map.
 * - graft's own layers for torchvision networks (src/models/tv/layers.ts): GraftHardSigmoid and
 *   GraftHardSwish (PyTorch's relu6(x+3)/6 forms, as ONNX HardSigmoid with alpha 1/6), and
 *   GraftAdaptiveAvgPool2D (identity, an AveragePool, or a MatMul with torch's window matrix).
 * - A ZeroPadding2D feeding a pooling layer becomes a Pad node (torchvision pads a max pool only
 *   after a ReLU, where zeros equal its −∞ padding; average pools count the padding).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  encodeModel,
  floatTensor,
  int64Tensor,
  DataType,
  type AttributeProto,
  type Dim,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.js';
import { adaptivePoolMatrix } from '../models/tv/layers.js';

export interface ConvertOptions {
  /** Layer name whose output becomes the graph output. */
  output: string;
  /** Graph input name (default 'input'). */
  inputName?: string;
  /** Graph output name (default 'output'). */
  outputName?: string;
  /** ONNX opset (default 13; 13–21 accepted). */
  opset?: number;
  /** Fold BatchNormalization into the preceding Conv/Dense where valid (default true). */
  foldBatchNorm?: boolean;
  /** ModelProto.metadata_props (ORT exposes them as the session's custom metadata). */
  metadata?: Record<string, string>;
}

type SymbolicTensor = tfl.SymbolicTensor;
type Layer = SymbolicTensor['sourceLayer'];
type Config = Record<string, unknown>;

/** A converted value: its ONNX name plus its Keras (NHWC / [N,D]) shape. */
interface Val {
  name: string;
  /** Keras shape, batch first (null = unknown). Rank 4 values are stored NCHW in the graph. */
  shape: (number | null)[];
  /** A ZeroPadding2D folded into the consuming convolution: [top, bottom, left, right]. */
  pendingPad?: [number, number, number, number];
}

function fail(layer: Layer, reason: string): never {
  throw new Error(`cannot convert layer ${layer.name} (${layer.getClassName()}) to ONNX: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// Config helpers

function pair(layer: Layer, cfg: Config, key: string, dflt?: [number, number]): [number, number] {
  const v = cfg[key];
  if (v == null && dflt) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return [v[0], v[1]];
  return fail(layer, `unexpected ${key}=${JSON.stringify(v)}`);
}

function checkChannelsLast(layer: Layer, cfg: Config): void {
  const df = cfg.dataFormat ?? cfg.data_format;
  if (df != null && df !== 'channelsLast' && df !== 'channels_last') fail(layer, `dataFormat ${String(df)} is not supported (only channelsLast)`);
}

/** TF padding for one spatial dim: [before, after]; null if 'same' with an unknown size. */
function tfPads(inSize: number | null, k: number, stride: number, dilation: number, padding: string): [number, number] | null {
  if (padding === 'valid') return [0, 0];
  if (inSize == null) return null;
  const eff = (k - 1) * dilation + 1;
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + eff - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function irVersionFor(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

const attr = {
  i: (name: string, i: number): AttributeProto => ({ name, value: { type: 'int', i } }),
  f: (name: string, f: number): AttributeProto => ({ name, value: { type: 'float', f } }),
  s: (name: string, s: string): AttributeProto => ({ name, value: { type: 'string', s } }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, value: { type: 'ints', ints } }),
};

// ---------------------------------------------------------------------------------------------
// Weights

/** The layer's weights by Keras short name ('kernel', 'bias', 'gamma', 'moving_mean', …). */
function layerWeights(layer: Layer): Map<string, { shape: number[]; data: Float32Array }> {
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

function weight(layer: Layer, w: Map<string, { shape: number[]; data: Float32Array }>, key: string, rank?: number): { shape: number[]; data: Float32Array } {
  const v = w.get(key);
  if (!v) fail(layer, `weight '${key}' not found (have ${[...w.keys()].join(', ') || 'none'})`);
  if (rank != null && v.shape.length !== rank) fail(layer, `weight '${key}' has shape [${v.shape}], expected rank ${rank}`);
  return v;
}

/** BatchNorm as per-channel y = x * scale + shift (float64). */
function bnAffine(layer: Layer, channels: number): { scale: Float64Array; shift: Float64Array; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number } {
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

class Builder {
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
function findOutput(model: tfl.LayersModel, layer: Layer): SymbolicTensor {
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

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);
const CONV_LAYERS = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

/** A tfjs/Keras conv kernel [kh, kw, in, out] (HWIO) → ONNX's [out, in, kh, kw] (OIHW). */
function hwioToOihw(k: ArrayLike<number>, kh: number, kw: number, ci: number, co: number): Float32Array {
  const W = new Float32Array(kh * kw * ci * co);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++) W[((o * ci + c) * kh + i) * kw + j] = k[((i * kw + j) * ci + c) * co + o]!;
  return W;
}

/**
 * Convert the part of `model` needed to compute layer `opts.output` into a serialized ONNX model.
 * Throws `Error("cannot convert layer <name> (<class>) to ONNX: <reason>")` for an unsupported layer.
 */
export function layersModelToOnnx(model: tfl.LayersModel, opts: ConvertOptions): Uint8Array {
  const opset = opts.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new Error(`layersModelToOnnx: opset ${opset} not supported (13–21)`);
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  if (inputName === outputName) throw new Error('layersModelToOnnx: inputName and outputName must differ');
  const foldBn = opts.foldBatchNorm ?? true;

  let outLayer: Layer;
  try {
    outLayer = model.getLayer(opts.output);
  } catch {
    throw new Error(`layersModelToOnnx: model has no layer named '${opts.output}'`);
  }
  const outTensor = findOutput(model, outLayer);

  // 1. Topological order of the sub-graph, and each tensor's consumers within it.
  const order: SymbolicTensor[] = [];
  const consumers = new Map<number, SymbolicTensor[]>();
  {
    const seen = new Set<number>();
    const stack: { t: SymbolicTensor; expanded: boolean }[] = [{ t: outTensor, expanded: false }];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.expanded) {
        stack.pop();
        if (!seen.has(top.t.id)) {
          seen.add(top.t.id);
          order.push(top.t);
        }
        continue;
      }
      top.expanded = true;
      if (seen.has(top.t.id)) continue;
      for (const inp of top.t.inputs ?? []) {
        if (!seen.has(inp.id)) stack.push({ t: inp, expanded: false });
      }
    }
    for (const t of order) {
      for (const inp of new Set(t.inputs ?? [])) {
        const list = consumers.get(inp.id) ?? [];
        list.push(t);
        consumers.set(inp.id, list);
      }
    }
  }
  const onlyConsumer = (t: SymbolicTensor): SymbolicTensor | undefined => {
    if (t.id === outTensor.id) return undefined;
    const c = consumers.get(t.id);
    return c && c.length === 1 ? c[0] : undefined;
  };

  const b = new Builder();
  b.reserve(inputName);
  b.reserve(outputName);
  const vals = new Map<number, Val>();
  let graphInputShape: Dim[] | undefined;

  const inputsOf = (t: SymbolicTensor): Val[] =>
    (t.inputs ?? []).map((i) => {
      const v = vals.get(i.id);
      if (!v) throw new Error(`layersModelToOnnx: internal error: input ${i.name} of ${t.name} not converted`);
      return v;
    });

  /** Materialise a pending ZeroPadding2D as a Pad node. */
  const settle = (v: Val): Val => {
    if (!v.pendingPad) return v;
    const [t, bo, l, r] = v.pendingPad;
    const pads = b.int64(`${v.name}/pads`, [8], [0, 0, t, l, 0, 0, bo, r]);
    const name = b.node('Pad', [v.name, pads], `${v.name}/pad`, [attr.s('mode', 'constant')]);
    const [n, h, w, c] = v.shape;
    return { name, shape: [n ?? null, h == null ? null : h + t + bo, w == null ? null : w + l + r, c ?? null] };
  };

  const one = (layer: Layer, t: SymbolicTensor): Val => {
    const ins = inputsOf(t);
    if (ins.length !== 1) fail(layer, `expected 1 input, got ${ins.length}`);
    return ins[0]!;
  };

  const rank4 = (layer: Layer, v: Val): void => {
    if (v.shape.length !== 4) fail(layer, `expected a 4-D input, got rank ${v.shape.length}`);
  };

  /** Append an activation (Keras name) after `x`; returns the new value name. */
  const activation = (layer: Layer, x: string, act: unknown, rank: number, base: string): string => {
    const a = act == null ? 'linear' : typeof act === 'string' ? act : (act as { className?: string }).className;
    switch (a) {
      case 'linear':
        return x;
      case 'relu':
        return b.node('Relu', [x], base);
      case 'relu6':
        return b.node('Clip', [x, b.scalar(0), b.scalar(6)], base);
      case 'sigmoid':
        return b.node('Sigmoid', [x], base);
      case 'tanh':
        return b.node('Tanh', [x], base);
      case 'softmax':
        return b.node('Softmax', [x], base, [attr.i('axis', rank === 4 ? 1 : rank - 1)]);
      case 'logSoftmax':
      case 'log_softmax':
        return b.node('LogSoftmax', [x], base, [attr.i('axis', rank === 4 ? 1 : rank - 1)]);
      case 'elu':
        return b.node('Elu', [x], base, [attr.f('alpha', 1)]);
      case 'selu':
        return b.node('Selu', [x], base);
      case 'softplus':
        return b.node('Softplus', [x], base);
      case 'softsign':
        return b.node('Softsign', [x], base);
      case 'hardSigmoid':
      case 'hard_sigmoid':
        return b.node('HardSigmoid', [x], base, [attr.f('alpha', 0.2), attr.f('beta', 0.5)]);
      case 'swish': {
        const s = b.node('Sigmoid', [x], `${base}/sigmoid`);
        return b.node('Mul', [x, s], base);
      }
      case 'mish': {
        const sp = b.node('Softplus', [x], `${base}/softplus`);
        const th = b.node('Tanh', [sp], `${base}/tanh`);
        return b.node('Mul', [x, th], base);
      }
      default:
        return fail(layer, `activation '${String(a)}' is not supported`);
    }
  };

  /** If `t` (a linear Conv/Dense output) feeds only a foldable BatchNormalization, return it. */
  const foldableBn = (t: SymbolicTensor, activationName: unknown): SymbolicTensor | undefined => {
    if (!foldBn) return undefined;
    if (activationName != null && activationName !== 'linear') return undefined;
    const c = onlyConsumer(t);
    if (!c || c.sourceLayer.getClassName() !== 'BatchNormalization') return undefined;
    const cfg = c.sourceLayer.getConfig() as Config;
    const axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
    const rank = t.shape.length;
    if (axis !== -1 && axis !== rank - 1) return undefined;
    return c;
  };

  /**
   * Emit a Conv node from a Keras kernel already laid out as ONNX [O, I/group, kh, kw];
   * optionally folding a following BatchNormalization. Returns the output value.
   */
  const emitConv = (
    layer: Layer,
    x: Val,
    W: Float32Array,
    wDims: [number, number, number, number],
    bias: Float32Array | null,
    group: number,
    kernel: [number, number],
    strides: [number, number],
    dilation: [number, number],
    padding: string,
    outShape: (number | null)[],
    base: string,
    bn?: SymbolicTensor,
  ): Val => {
    const [O] = wDims;
    let w = W;
    let bvec: Float32Array | null = bias;
    let outBase = base;
    if (bn) {
      const { scale, shift } = bnAffine(bn.sourceLayer, O);
      const per = W.length / O;
      w = new Float32Array(W.length);
      for (let o = 0; o < O; o++) {
        const s = scale[o]!;
        for (let j = 0; j < per; j++) w[o * per + j] = W[o * per + j]! * s;
      }
      bvec = new Float32Array(O);
      for (let o = 0; o < O; o++) bvec[o] = (bias ? bias[o]! : 0) * scale[o]! + shift[o]!;
      outBase = bn.sourceLayer.name;
    }
    if (padding !== 'same' && padding !== 'valid') fail(layer, `padding '${padding}' is not supported`);
    const extra = x.pendingPad ?? [0, 0, 0, 0];
    const h = x.shape[1] == null ? null : x.shape[1] + extra[0] + extra[1];
    const wd = x.shape[2] == null ? null : x.shape[2] + extra[2] + extra[3];
    const ph = tfPads(h, kernel[0], strides[0], dilation[0], padding);
    const pw = tfPads(wd, kernel[1], strides[1], dilation[1], padding);
    const attrs: AttributeProto[] = [
      attr.ints('kernel_shape', kernel),
      attr.ints('strides', strides),
      attr.ints('dilations', dilation),
      attr.i('group', group),
    ];
    let input = x;
    if (ph && pw) {
      attrs.push(attr.ints('pads', [ph[0] + extra[0], pw[0] + extra[2], ph[1] + extra[1], pw[1] + extra[3]]));
    } else {
      input = settle(x);
      attrs.push(attr.s('auto_pad', 'SAME_UPPER'));
    }
    const wName = b.float(`${base}/W`, wDims, w);
    const inputs = [input.name, wName];
    if (bvec) inputs.push(b.float(`${outBase}/B`, [O], bvec));
    const name = b.node('Conv', inputs, outBase, attrs);
    return { name, shape: outShape };
  };

  for (const t of order) {
    if (vals.has(t.id)) continue; // produced by a fused predecessor
    const layer = t.sourceLayer;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Config;
    const base = (t.nodeIndex ?? 0) > 0 ? `${layer.name}_${t.nodeIndex}` : layer.name;
    const shape = t.shape.slice();
    checkChannelsLast(layer, cfg);

    switch (cls) {
      case 'InputLayer': {
        if (graphInputShape) fail(layer, 'the cut point depends on more than one model input');
        if (shape.length === 4) {
          graphInputShape = ['N', shape[1] ?? 'H', shape[2] ?? 'W', shape[3] ?? 'C'];
          const name = b.node('Transpose', [inputName], `${inputName}/nchw`, [attr.ints('perm', [0, 3, 1, 2])]);
          vals.set(t.id, { name, shape });
        } else if (shape.length === 2) {
          graphInputShape = ['N', shape[1] ?? 'D'];
          vals.set(t.id, { name: inputName, shape });
        } else fail(layer, `input rank ${shape.length} is not supported (only [N,H,W,C] or [N,D])`);
        break;
      }

      case 'ZeroPadding2D': {
        const x = settle(one(layer, t));
        rank4(layer, x);
        const p = cfg.padding;
        let tb: [number, number], lr: [number, number];
        if (typeof p === 'number') (tb = [p, p]), (lr = [p, p]);
        else if (Array.isArray(p) && typeof p[0] === 'number') (tb = [p[0], p[0]]), (lr = [p[1] as number, p[1] as number]);
        else if (Array.isArray(p) && Array.isArray(p[0]) && Array.isArray(p[1])) (tb = p[0] as [number, number]), (lr = p[1] as [number, number]);
        else fail(layer, `unexpected padding ${JSON.stringify(p)}`);
        const pad: [number, number, number, number] = [tb[0], tb[1], lr[0], lr[1]];
        const c = onlyConsumer(t);
        if (c && CONV_LAYERS.has(c.sourceLayer.getClassName())) {
          vals.set(t.id, { name: x.name, shape: x.shape, pendingPad: pad }); // folded into the conv's pads
        } else {
          vals.set(t.id, { ...settle({ name: x.name, shape: x.shape, pendingPad: pad }), shape });
        }
        break;
      }

      case 'Conv2D': {
        const x = one(layer, t);
        rank4(layer, x);
        const w = layerWeights(layer);
        const k = weight(layer, w, 'kernel', 4);
        const [kh, kw, ci, co] = k.shape as [number, number, number, number];
        const W = hwioToOihw(k.data, kh, kw, ci, co);
        const bias = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
        const bn = foldableBn(t, cfg.activation);
        const v = emitConv(layer, x, W, [co, ci, kh, kw], bias, 1, [kh, kw], pair(layer, cfg, 'strides', [1, 1]), pair(layer, cfg, 'dilationRate', [1, 1]), String(cfg.padding ?? 'valid'), bn ? bn.shape.slice() : shape, base, bn);
        const name = activation(layer, v.name, cfg.activation, 4, `${base}/act`);
        vals.set((bn ?? t).id, { name, shape: v.shape });
        break;
      }

      case 'DepthwiseConv2D': {
        const x = one(layer, t);
        rank4(layer, x);
        const w = layerWeights(layer);
        const k = weight(layer, w, 'depthwise_kernel', 4);
        const [kh, kw, ci, dm] = k.shape as [number, number, number, number];
        // [kh,kw,C,dm] is HWIO with I=1, O=C*dm (output channel c*dm+m, as in TF) → [C*dm, 1, kh, kw].
        const W = hwioToOihw(k.data, kh, kw, 1, ci * dm);
        const bias = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
        const bn = foldableBn(t, cfg.activation);
        const v = emitConv(layer, x, W, [ci * dm, 1, kh, kw], bias, ci, [kh, kw], pair(layer, cfg, 'strides', [1, 1]), pair(layer, cfg, 'dilationRate', [1, 1]), String(cfg.padding ?? 'valid'), bn ? bn.shape.slice() : shape, base, bn);
        const name = activation(layer, v.name, cfg.activation, 4, `${base}/act`);
        vals.set((bn ?? t).id, { name, shape: v.shape });
        break;
      }

      case 'SeparableConv2D': {
        const x = one(layer, t);
        rank4(layer, x);
        const w = layerWeights(layer);
        const dk = weight(layer, w, 'depthwise_kernel', 4);
        const pk = weight(layer, w, 'pointwise_kernel', 4);
        const [kh, kw, ci, dm] = dk.shape as [number, number, number, number];
        const co = pk.shape[3]!;
        const D = hwioToOihw(dk.data, kh, kw, 1, ci * dm);
        const mid = emitConv(layer, x, D, [ci * dm, 1, kh, kw], null, ci, [kh, kw], pair(layer, cfg, 'strides', [1, 1]), pair(layer, cfg, 'dilationRate', [1, 1]), String(cfg.padding ?? 'valid'), [shape[0] ?? null, shape[1] ?? null, shape[2] ?? null, ci * dm], `${base}/depthwise`);
        const cm = ci * dm;
        const P = hwioToOihw(pk.data, 1, 1, cm, co);
        const bias = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
        const bn = foldableBn(t, cfg.activation);
        const v = emitConv(layer, mid, P, [co, cm, 1, 1], bias, 1, [1, 1], [1, 1], [1, 1], 'valid', bn ? bn.shape.slice() : shape, base, bn);
        const name = activation(layer, v.name, cfg.activation, 4, `${base}/act`);
        vals.set((bn ?? t).id, { name, shape: v.shape });
        break;
      }

      case 'BatchNormalization': {
        const x = settle(one(layer, t));
        const rank = x.shape.length;
        const axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
        if (axis !== -1 && axis !== rank - 1) fail(layer, `axis ${String(cfg.axis)} is not supported (only the channel axis)`);
        if (rank !== 4 && rank !== 2) fail(layer, `rank ${rank} input is not supported`);
        const C = shape[rank - 1];
        if (C == null) fail(layer, 'unknown channel count');
        const bn = bnAffine(layer, C);
        const name = b.node(
          'BatchNormalization',
          [x.name, b.float(`${base}/scale`, [C], bn.gamma), b.float(`${base}/B`, [C], bn.beta), b.float(`${base}/mean`, [C], bn.mean), b.float(`${base}/var`, [C], bn.variance)],
          base,
          [attr.f('epsilon', bn.epsilon)],
        );
        vals.set(t.id, { name, shape });
        break;
      }

      case 'Activation': {
        const x = settle(one(layer, t));
        vals.set(t.id, { name: activation(layer, x.name, cfg.activation, x.shape.length, base), shape });
        break;
      }

      case 'ReLU': {
        const x = settle(one(layer, t));
        const ns = (cfg.negativeSlope ?? cfg.negative_slope ?? 0) as number;
        const th = (cfg.threshold ?? 0) as number;
        if (ns) fail(layer, `negative_slope ${ns} is not supported`);
        if (th) fail(layer, `threshold ${th} is not supported`);
        const maxValue = cfg.maxValue ?? cfg.max_value;
        const name =
          maxValue == null ? b.node('Relu', [x.name], base) : b.node('Clip', [x.name, b.scalar(0), b.scalar(Number(maxValue))], base);
        vals.set(t.id, { name, shape });
        break;
      }

      case 'LeakyReLU': {
        const x = settle(one(layer, t));
        const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 0.3;
        vals.set(t.id, { name: b.node('LeakyRelu', [x.name], base, [attr.f('alpha', alpha)]), shape });
        break;
      }

      case 'ELU': {
        const x = settle(one(layer, t));
        const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 1;
        vals.set(t.id, { name: b.node('Elu', [x.name], base, [attr.f('alpha', alpha)]), shape });
        break;
      }

      case 'Softmax': {
        const x = settle(one(layer, t));
        const rank = x.shape.length;
        let axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? (cfg.axis[0] as number) : NaN) : ((cfg.axis ?? -1) as number);
        if (Number.isNaN(axis)) fail(layer, 'multi-axis softmax is not supported');
        if (axis < 0) axis += rank;
        if (axis !== rank - 1) fail(layer, `softmax over axis ${axis} is not supported (only the last axis)`);
        vals.set(t.id, { name: b.node('Softmax', [x.name], base, [attr.i('axis', rank === 4 ? 1 : rank - 1)]), shape });
        break;
      }

      case 'Add':
      case 'Multiply':
      case 'Subtract':
      case 'Average':
      case 'Maximum':
      case 'Minimum': {
        const xs = inputsOf(t).map(settle);
        if (xs.length < 2) fail(layer, `expected at least 2 inputs, got ${xs.length}`);
        for (const x of xs) {
          if (x.shape.length !== shape.length) fail(layer, 'inputs of different ranks are not supported');
          // ONNX broadcasts like numpy; a size-1 Keras dim is a size-1 dim in the NCHW layout too
          // (squeeze-excitation multiplies [N,1,1,C] by [N,H,W,C]).
          for (let d = 1; d < shape.length; d++) {
            if (x.shape[d] !== shape[d] && x.shape[d] !== 1) fail(layer, `cannot broadcast input shape [${x.shape.map((v) => v ?? '?')}] to [${shape.map((v) => v ?? '?')}]`);
          }
        }
        const names = xs.map((x) => x.name);
        let name: string;
        if (cls === 'Subtract') {
          if (xs.length !== 2) fail(layer, 'Subtract needs exactly 2 inputs');
          name = b.node('Sub', names, base);
        } else if (names.length === 2 && (cls === 'Add' || cls === 'Multiply')) {
          name = b.node(cls === 'Add' ? 'Add' : 'Mul', names, base);
        } else if (cls === 'Multiply') {
          name = names[0]!;
          for (let i = 1; i < names.length; i++) name = b.node('Mul', [name, names[i]!], i === names.length - 1 ? base : `${base}/${i}`);
        } else {
          const op = { Add: 'Sum', Average: 'Mean', Maximum: 'Max', Minimum: 'Min' }[cls]!;
          name = b.node(op, names, base);
        }
        vals.set(t.id, { name, shape });
        break;
      }

      case 'Concatenate': {
        const xs = inputsOf(t).map(settle);
        const rank = shape.length;
        let axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
        if (axis < 0) axis += rank;
        if (axis <= 0 || axis >= rank) fail(layer, `concat axis ${String(cfg.axis)} is not supported`);
        for (const x of xs) if (x.shape.length !== rank) fail(layer, 'inputs of different ranks');
        const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis]! : axis;
        vals.set(t.id, { name: b.node('Concat', xs.map((x) => x.name), base, [attr.i('axis', onnxAxis)]), shape });
        break;
      }

      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const x = settle(one(layer, t));
        rank4(layer, x);
        const k = pair(layer, cfg, 'poolSize', [2, 2]);
        const s = cfg.strides == null ? k : pair(layer, cfg, 'strides');
        const padding = String(cfg.padding ?? 'valid');
        if (padding !== 'same' && padding !== 'valid') fail(layer, `padding '${padding}' is not supported`);
        const ph = tfPads(x.shape[1] ?? null, k[0], s[0], 1, padding);
        const pw = tfPads(x.shape[2] ?? null, k[1], s[1], 1, padding);
        const attrs = [attr.ints('kernel_shape', k), attr.ints('strides', s)];
        if (ph && pw) attrs.push(attr.ints('pads', [ph[0], pw[0], ph[1], pw[1]]));
        else attrs.push(attr.s('auto_pad', 'SAME_UPPER'));
        if (cls === 'AveragePooling2D') attrs.push(attr.i('count_include_pad', 0)); // TF excludes padding
        vals.set(t.id, { name: b.node(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], base, attrs), shape });
        break;
      }

      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const x = settle(one(layer, t));
        rank4(layer, x);
        const pooled = b.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name], shape.length === 4 ? base : `${base}/pool`);
        if (shape.length === 4) vals.set(t.id, { name: pooled, shape }); // keepDims
        else vals.set(t.id, { name: b.node('Flatten', [pooled], base, [attr.i('axis', 1)]), shape });
        break;
      }

      case 'Flatten': {
        const x = settle(one(layer, t));
        const rank = x.shape.length;
        if (rank === 2) vals.set(t.id, { name: x.name, shape });
        else if (rank === 4) {
          let src = x.name;
          // Keras flattens NHWC; transpose back unless the spatial dims are 1×1 (same order then).
          if (!(x.shape[1] === 1 && x.shape[2] === 1)) src = b.node('Transpose', [src], `${base}/nhwc`, [attr.ints('perm', [0, 2, 3, 1])]);
          vals.set(t.id, { name: b.node('Flatten', [src], base, [attr.i('axis', 1)]), shape });
        } else fail(layer, `rank ${rank} input is not supported`);
        break;
      }

      case 'Dense': {
        const x = settle(one(layer, t));
        if (x.shape.length !== 2) fail(layer, `only 2-D input is supported (got rank ${x.shape.length})`);
        const w = layerWeights(layer);
        const k = weight(layer, w, 'kernel', 2);
        const [din, dout] = k.shape as [number, number];
        let kernel = k.data;
        let bias: Float32Array | null = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
        const bn = foldableBn(t, cfg.activation);
        let outBase = base;
        if (bn) {
          const { scale, shift } = bnAffine(bn.sourceLayer, dout);
          kernel = new Float32Array(k.data.length);
          for (let i = 0; i < din; i++) for (let o = 0; o < dout; o++) kernel[i * dout + o] = k.data[i * dout + o]! * scale[o]!;
          const nb = new Float32Array(dout);
          for (let o = 0; o < dout; o++) nb[o] = (bias ? bias[o]! : 0) * scale[o]! + shift[o]!;
          bias = nb;
          outBase = bn.sourceLayer.name;
        }
        const inputs = [x.name, b.float(`${base}/W`, [din, dout], kernel)];
        if (bias) inputs.push(b.float(`${outBase}/B`, [dout], bias));
        const g = b.node('Gemm', inputs, outBase);
        const name = activation(layer, g, cfg.activation, 2, `${base}/act`);
        vals.set((bn ?? t).id, { name, shape: (bn ?? t).shape.slice() });
        break;
      }

      // Layers graft defines for torchvision architectures (src/models/tv/layers.ts).
      case 'GraftHardSigmoid': {
        // PyTorch Hardsigmoid relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)
        const x = settle(one(layer, t));
        vals.set(t.id, { name: b.node('HardSigmoid', [x.name], base, [attr.f('alpha', 1 / 6), attr.f('beta', 0.5)]), shape });
        break;
      }

      case 'GraftHardSwish': {
        // PyTorch Hardswish x · relu6(x + 3) / 6 (ONNX HardSwish needs opset 14; this works from 13)
        const x = settle(one(layer, t));
        const hs = b.node('HardSigmoid', [x.name], `${base}/hardsigmoid`, [attr.f('alpha', 1 / 6), attr.f('beta', 0.5)]);
        vals.set(t.id, { name: b.node('Mul', [x.name, hs], base), shape });
        break;
      }

      case 'GraftAdaptiveAvgPool2D': {
        // PyTorch AdaptiveAvgPool2d for a fixed input size (torch's windows, see layers.ts).
        const x = settle(one(layer, t));
        rank4(layer, x);
        const [, h, w, c] = x.shape;
        const os = cfg.outputSize;
        if (!Array.isArray(os) || os.length !== 2 || !os.every((v) => Number.isInteger(v) && v > 0)) fail(layer, `bad outputSize ${JSON.stringify(os)}`);
        const [oh, ow] = os as [number, number];
        if (h == null || w == null || c == null) fail(layer, 'the input size must be known');
        if (h === oh && w === ow) {
          vals.set(t.id, { name: x.name, shape });
        } else if (h % oh === 0 && w % ow === 0) {
          const k = [h / oh, w / ow];
          vals.set(t.id, { name: b.node('AveragePool', [x.name], base, [attr.ints('kernel_shape', k), attr.ints('strides', k), attr.ints('pads', [0, 0, 0, 0])]), shape });
        } else {
          // [N,C,H,W] → [N,C,H·W] · P[H·W, oh·ow] → [N,C,oh,ow]
          const flat = b.node('Reshape', [x.name, b.int64(`${base}/flat_shape`, [3], [0, c, h * w])], `${base}/flat`);
          const mm = b.node('MatMul', [flat, b.float(`${base}/P`, [h * w, oh * ow], adaptivePoolMatrix(h, w, oh, ow))], `${base}/matmul`);
          vals.set(t.id, { name: b.node('Reshape', [mm, b.int64(`${base}/out_shape`, [4], [0, c, oh, ow])], base), shape });
        }
        break;
      }

      default:
        if (IDENTITY_LAYERS.has(cls)) {
          vals.set(t.id, one(layer, t));
          break;
        }
        if ('layers' in layer) fail(layer, 'nested models are not supported (convert the inner model, or build the model flat)');
        fail(layer, 'this layer type is not supported by the converter');
    }
  }

  // 2. Graph output.
  if (!graphInputShape) throw new Error(`layersModelToOnnx: layer '${opts.output}' does not depend on a model input`);
  const last = settle(vals.get(outTensor.id)!);
  const outShape = outTensor.shape;
  let outDims: Dim[];
  if (outShape.length === 4) {
    b.node('Transpose', [last.name], outputName, [attr.ints('perm', [0, 2, 3, 1])], true);
    outDims = ['N', ...outShape.slice(1).map((d, i) => d ?? `${outputName}_d${i + 1}`)];
  } else if (outShape.length === 2) {
    const producer = b.nodes.find((n) => n.output[0] === last.name);
    const usedElsewhere = b.nodes.some((n) => n.input.includes(last.name));
    if (producer && !usedElsewhere) {
      producer.output[0] = outputName;
      producer.name = outputName;
    } else {
      b.node('Identity', [last.name], outputName, [], true);
    }
    outDims = ['N', outShape[1] ?? `${outputName}_d1`];
  } else {
    throw new Error(`layersModelToOnnx: output of '${opts.output}' has rank ${outShape.length} (only 2 or 4 supported)`);
  }

  return encodeModel({
    irVersion: irVersionFor(opset),
    opsetImport: [{ version: opset }],
    producerName: 'graft',
    ...(opts.metadata ? { metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })) } : {}),
    graph: {
      name: model.name || 'graft',
      node: b.nodes,
      initializer: b.inits,
      input: [{ name: inputName, elemType: DataType.FLOAT, shape: graphInputShape }],
      output: [{ name: outputName, elemType: DataType.FLOAT, shape: outDims }],
    },
  });
}
