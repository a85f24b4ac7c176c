/**
 * The state a layer converter works on: the graph being built, the converted value of every
 * Keras tensor so far, and the shared steps (a pending ZeroPadding2D settled into a Pad, the
 * single input of a layer, an activation, BatchNorm folding, a Conv node).
 */
import type { Dim } from '../onnx-proto.js';
import type { AttributeProto } from '../onnx-proto.js';
import { Builder, attr, bnAffine, fail, tfPads, type Config, type Layer, type SymbolicTensor, type Val } from './util.js';

/** A Conv node from a kernel laid out as ONNX [O, I/group, kh, kw], optionally folding a following BatchNormalization. */
export type EmitConv = (
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
) => Val;

export interface ConvertContext {
  readonly b: Builder;
  readonly vals: Map<number, Val>;
  readonly inputName: string;
  /** Set by the InputLayer converter: the graph input's shape. */
  graphInputShape: Dim[] | undefined;
  inputsOf(t: SymbolicTensor): Val[];
  settle(v: Val): Val;
  one(layer: Layer, t: SymbolicTensor): Val;
  rank4(layer: Layer, v: Val): void;
  activation(layer: Layer, x: string, act: unknown, rank: number, base: string): string;
  foldableBn(t: SymbolicTensor, activationName: unknown): SymbolicTensor | undefined;
  emitConv: EmitConv;
  onlyConsumer(t: SymbolicTensor): SymbolicTensor | undefined;
}

/** Append an activation (Keras name) after `x`; returns the new value name. */
export function activation(b: Builder, layer: Layer, x: string, act: unknown, rank: number, base: string): string {
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
}

export function makeContext(inputName: string, outputName: string, foldBn: boolean, onlyConsumer: (t: SymbolicTensor) => SymbolicTensor | undefined): ConvertContext {
  const b = new Builder();
  b.reserve(inputName);
  b.reserve(outputName);
  const vals = new Map<number, Val>();

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
  const emitConv: EmitConv = (layer, x, W, wDims, bias, group, kernel, strides, dilation, padding, outShape, base, bn) => {
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
  return {
    b,
    vals,
    inputName,
    graphInputShape: undefined,
    inputsOf,
    settle,
    one,
    rank4,
    activation: (layer, x, act, rank, base) => activation(b, layer, x, act, rank, base),
    foldableBn,
    emitConv,
    onlyConsumer,
  };
}
