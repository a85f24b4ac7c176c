/** Input, Flatten and Dense layers. */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, attr, layerWeights, weight, bnAffine } from './util.js';

function convertInputLayer(ctx: ConvertContext, { layer, t, shape }: LayerArgs): void {
  if (ctx.graphInputShape) fail(layer, 'the cut point depends on more than one model input');
  if (shape.length === 4) {
    ctx.graphInputShape = ['N', shape[1] ?? 'H', shape[2] ?? 'W', shape[3] ?? 'C'];
    const name = ctx.b.node('Transpose', [ctx.inputName], `${ctx.inputName}/nchw`, [attr.ints('perm', [0, 3, 1, 2])]);
    ctx.vals.set(t.id, { name, shape });
  } else if (shape.length === 2) {
    ctx.graphInputShape = ['N', shape[1] ?? 'D'];
    ctx.vals.set(t.id, { name: ctx.inputName, shape });
  } else fail(layer, `input rank ${shape.length} is not supported (only [N,H,W,C] or [N,D])`);
}

function convertFlatten(ctx: ConvertContext, { layer, t, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  const rank = x.shape.length;
  if (rank === 2) ctx.vals.set(t.id, { name: x.name, shape });
  else if (rank === 4) {
    let src = x.name;
    // Keras flattens NHWC; transpose back unless the spatial dims are 1×1 (same order then).
    if (!(x.shape[1] === 1 && x.shape[2] === 1)) src = ctx.b.node('Transpose', [src], `${base}/nhwc`, [attr.ints('perm', [0, 2, 3, 1])]);
    ctx.vals.set(t.id, { name: ctx.b.node('Flatten', [src], base, [attr.i('axis', 1)]), shape });
  } else fail(layer, `rank ${rank} input is not supported`);
}

function convertDense(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  if (x.shape.length !== 2) fail(layer, `only 2-D input is supported (got rank ${x.shape.length})`);
  const w = layerWeights(layer);
  const k = weight(layer, w, 'kernel', 2);
  const [din, dout] = k.shape as [number, number];
  let kernel = k.data;
  let bias: Float32Array | null = cfg.useBias === false ? null : weight(layer, w, 'bias', 1).data;
  const bn = ctx.foldableBn(t, cfg.activation);
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
  const inputs = [x.name, ctx.b.float(`${base}/W`, [din, dout], kernel)];
  if (bias) inputs.push(ctx.b.float(`${outBase}/B`, [dout], bias));
  const g = ctx.b.node('Gemm', inputs, outBase);
  const name = ctx.activation(layer, g, cfg.activation, 2, `${base}/act`);
  ctx.vals.set((bn ?? t).id, { name, shape: (bn ?? t).shape.slice() });
}

export const CORE_CONVERTERS: Record<string, LayerConverter> = {
  InputLayer: convertInputLayer,
  Flatten: convertFlatten,
  Dense: convertDense,
};
