/** Convolutions (plain, depthwise, separable), their zero padding and BatchNormalization. */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, pair, attr, layerWeights, weight, bnAffine, hwioToOihw, CONV_CLASSES } from './util.js';

function convertZeroPadding2D(ctx: ConvertContext, { layer, t, cfg, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  ctx.rank4(layer, x);
  const p = cfg.padding;
  let tb: [number, number], lr: [number, number];
  if (typeof p === 'number') (tb = [p, p]), (lr = [p, p]);
  else if (Array.isArray(p) && typeof p[0] === 'number') (tb = [p[0], p[0]]), (lr = [p[1] as number, p[1] as number]);
  else if (Array.isArray(p) && Array.isArray(p[0]) && Array.isArray(p[1])) (tb = p[0] as [number, number]), (lr = p[1] as [number, number]);
  else fail(layer, `unexpected padding ${JSON.stringify(p)}`);
  const pad: [number, number, number, number] = [tb[0], tb[1], lr[0], lr[1]];
  const c = ctx.onlyConsumer(t);
  if (c && CONV_CLASSES.has(c.sourceLayer.getClassName())) {
    ctx.vals.set(t.id, { name: x.name, shape: x.shape, pendingPad: pad }); // folded into the conv's pads
  } else {
    ctx.vals.set(t.id, { ...ctx.settle({ name: x.name, shape: x.shape, pendingPad: pad }), shape });
  }
}

/** Conv2D, or DepthwiseConv2D (kernel [kh,kw,C,dm] is HWIO with I=1, O=C·dm, output channel c·dm+m as in TF → [C·dm, 1, kh, kw]). */
function convOrDepthwise(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs, depthwise: boolean): void {
  const x = ctx.one(layer, t);
  ctx.rank4(layer, x);
  const w = layerWeights(layer);
  const k = weight(layer, w, depthwise ? 'depthwise_kernel' : 'kernel', 4);
  const [kh, kw, ci, d] = k.shape as [number, number, number, number];
  const [i, o] = depthwise ? [1, ci * d] : [ci, d];
  const W = hwioToOihw(k.data, kh, kw, i, o);
  const bias = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
  const bn = ctx.foldableBn(t, cfg.activation);
  const v = ctx.emitConv(layer, x, W, [o, i, kh, kw], bias, depthwise ? ci : 1, [kh, kw], pair(layer, cfg, 'strides', [1, 1]), pair(layer, cfg, 'dilationRate', [1, 1]), String(cfg.padding ?? 'valid'), bn ? bn.shape.slice() : shape, base, bn);
  const name = ctx.activation(layer, v.name, cfg.activation, 4, `${base}/act`);
  ctx.vals.set((bn ?? t).id, { name, shape: v.shape });
}

const convertConv2D: LayerConverter = (ctx, a) => convOrDepthwise(ctx, a, false);
const convertDepthwiseConv2D: LayerConverter = (ctx, a) => convOrDepthwise(ctx, a, true);

function convertSeparableConv2D(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.one(layer, t);
  ctx.rank4(layer, x);
  const w = layerWeights(layer);
  const dk = weight(layer, w, 'depthwise_kernel', 4);
  const pk = weight(layer, w, 'pointwise_kernel', 4);
  const [kh, kw, ci, dm] = dk.shape as [number, number, number, number];
  const co = pk.shape[3]!;
  const D = hwioToOihw(dk.data, kh, kw, 1, ci * dm);
  const mid = ctx.emitConv(layer, x, D, [ci * dm, 1, kh, kw], null, ci, [kh, kw], pair(layer, cfg, 'strides', [1, 1]), pair(layer, cfg, 'dilationRate', [1, 1]), String(cfg.padding ?? 'valid'), [shape[0] ?? null, shape[1] ?? null, shape[2] ?? null, ci * dm], `${base}/depthwise`);
  const cm = ci * dm;
  const P = hwioToOihw(pk.data, 1, 1, cm, co);
  const bias = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
  const bn = ctx.foldableBn(t, cfg.activation);
  const v = ctx.emitConv(layer, mid, P, [co, cm, 1, 1], bias, 1, [1, 1], [1, 1], [1, 1], 'valid', bn ? bn.shape.slice() : shape, base, bn);
  const name = ctx.activation(layer, v.name, cfg.activation, 4, `${base}/act`);
  ctx.vals.set((bn ?? t).id, { name, shape: v.shape });
}

function convertBatchNormalization(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const rank = x.shape.length;
  const axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
  if (axis !== -1 && axis !== rank - 1) fail(layer, `axis ${String(cfg.axis)} is not supported (only the channel axis)`);
  if (rank !== 4 && rank !== 2) fail(layer, `rank ${rank} input is not supported`);
  const C = shape[rank - 1];
  if (C == null) fail(layer, 'unknown channel count');
  const bn = bnAffine(layer, C);
  const name = ctx.b.node(
    'BatchNormalization',
    [x.name, ctx.b.float(`${base}/scale`, [C], bn.gamma), ctx.b.float(`${base}/B`, [C], bn.beta), ctx.b.float(`${base}/mean`, [C], bn.mean), ctx.b.float(`${base}/var`, [C], bn.variance)],
    base,
    [attr.f('epsilon', bn.epsilon)],
  );
  ctx.vals.set(t.id, { name, shape });
}

export const CONV_CONVERTERS: Record<string, LayerConverter> = {
  ZeroPadding2D: convertZeroPadding2D,
  Conv2D: convertConv2D,
  DepthwiseConv2D: convertDepthwiseConv2D,
  SeparableConv2D: convertSeparableConv2D,
  BatchNormalization: convertBatchNormalization,
};
