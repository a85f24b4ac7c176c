/** Activation layers (Keras and graft's torchvision Hard* forms). */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, attr } from './util.js';

function convertActivation(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  ctx.vals.set(t.id, { name: ctx.activation(layer, x.name, cfg.activation, x.shape.length, base), shape });
}

function convertReLU(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const ns = (cfg.negativeSlope ?? cfg.negative_slope ?? 0) as number;
  const th = (cfg.threshold ?? 0) as number;
  if (ns) fail(layer, `negative_slope ${ns} is not supported`);
  if (th) fail(layer, `threshold ${th} is not supported`);
  const maxValue = cfg.maxValue ?? cfg.max_value;
  const name =
    maxValue == null ? ctx.b.node('Relu', [x.name], base) : ctx.b.node('Clip', [x.name, ctx.b.scalar(0), ctx.b.scalar(Number(maxValue))], base);
  ctx.vals.set(t.id, { name, shape });
}

function convertLeakyReLU(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 0.3;
  ctx.vals.set(t.id, { name: ctx.b.node('LeakyRelu', [x.name], base, [attr.f('alpha', alpha)]), shape });
}

function convertELU(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const alpha = typeof cfg.alpha === 'number' ? cfg.alpha : 1;
  ctx.vals.set(t.id, { name: ctx.b.node('Elu', [x.name], base, [attr.f('alpha', alpha)]), shape });
}

function convertSoftmax(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const rank = x.shape.length;
  let axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? (cfg.axis[0] as number) : NaN) : ((cfg.axis ?? -1) as number);
  if (Number.isNaN(axis)) fail(layer, 'multi-axis softmax is not supported');
  if (axis < 0) axis += rank;
  if (axis !== rank - 1) fail(layer, `softmax over axis ${axis} is not supported (only the last axis)`);
  ctx.vals.set(t.id, { name: ctx.b.node('Softmax', [x.name], base, [attr.i('axis', rank === 4 ? 1 : rank - 1)]), shape });
}

function convertGraftHardSigmoid(ctx: ConvertContext, { layer, t, base, shape }: LayerArgs): void {
  // PyTorch Hardsigmoid relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1)
  const x = ctx.settle(ctx.one(layer, t));
  ctx.vals.set(t.id, { name: ctx.b.node('HardSigmoid', [x.name], base, [attr.f('alpha', 1 / 6), attr.f('beta', 0.5)]), shape });
}

function convertGraftHardSwish(ctx: ConvertContext, { layer, t, base, shape }: LayerArgs): void {
  // PyTorch Hardswish x · relu6(x + 3) / 6 (ONNX HardSwish needs opset 14; this works from 13)
  const x = ctx.settle(ctx.one(layer, t));
  const hs = ctx.b.node('HardSigmoid', [x.name], `${base}/hardsigmoid`, [attr.f('alpha', 1 / 6), attr.f('beta', 0.5)]);
  ctx.vals.set(t.id, { name: ctx.b.node('Mul', [x.name, hs], base), shape });
}

export const ACTIVATION_CONVERTERS: Record<string, LayerConverter> = {
  Activation: convertActivation,
  ReLU: convertReLU,
  LeakyReLU: convertLeakyReLU,
  ELU: convertELU,
  Softmax: convertSoftmax,
  GraftHardSigmoid: convertGraftHardSigmoid,
  GraftHardSwish: convertGraftHardSwish,
};
