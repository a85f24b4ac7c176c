/** Pooling layers (local, global, and graft's torchvision adaptive average pool). */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, pair, tfPads, attr } from './util.js';
import { adaptivePoolMatrix } from '../../models/tv/layers.js';

function convertMaxPooling2D(ctx: ConvertContext, { layer, t, cfg, base, shape, cls }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  ctx.rank4(layer, x);
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
  ctx.vals.set(t.id, { name: ctx.b.node(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x.name], base, attrs), shape });
}

function convertGlobalAveragePooling2D(ctx: ConvertContext, { layer, t, base, shape, cls }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  ctx.rank4(layer, x);
  const pooled = ctx.b.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name], shape.length === 4 ? base : `${base}/pool`);
  if (shape.length === 4) ctx.vals.set(t.id, { name: pooled, shape }); // keepDims
  else ctx.vals.set(t.id, { name: ctx.b.node('Flatten', [pooled], base, [attr.i('axis', 1)]), shape });
}

function convertGraftAdaptiveAvgPool2D(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  // PyTorch AdaptiveAvgPool2d for a fixed input size (torch's windows, see layers.ts).
  const x = ctx.settle(ctx.one(layer, t));
  ctx.rank4(layer, x);
  const [, h, w, c] = x.shape;
  const os = cfg.outputSize;
  if (!Array.isArray(os) || os.length !== 2 || !os.every((v) => Number.isInteger(v) && v > 0)) fail(layer, `bad outputSize ${JSON.stringify(os)}`);
  const [oh, ow] = os as [number, number];
  if (h == null || w == null || c == null) fail(layer, 'the input size must be known');
  if (h === oh && w === ow) {
    ctx.vals.set(t.id, { name: x.name, shape });
  } else if (h % oh === 0 && w % ow === 0) {
    const k = [h / oh, w / ow];
    ctx.vals.set(t.id, { name: ctx.b.node('AveragePool', [x.name], base, [attr.ints('kernel_shape', k), attr.ints('strides', k), attr.ints('pads', [0, 0, 0, 0])]), shape });
  } else {
    // [N,C,H,W] → [N,C,H·W] · P[H·W, oh·ow] → [N,C,oh,ow]
    const flat = ctx.b.node('Reshape', [x.name, ctx.b.int64(`${base}/flat_shape`, [3], [0, c, h * w])], `${base}/flat`);
    const mm = ctx.b.node('MatMul', [flat, ctx.b.float(`${base}/P`, [h * w, oh * ow], adaptivePoolMatrix(h, w, oh, ow))], `${base}/matmul`);
    ctx.vals.set(t.id, { name: ctx.b.node('Reshape', [mm, ctx.b.int64(`${base}/out_shape`, [4], [0, c, oh, ow])], base), shape });
  }
}

export const POOLING_CONVERTERS: Record<string, LayerConverter> = {
  MaxPooling2D: convertMaxPooling2D,
  AveragePooling2D: convertMaxPooling2D,
  GlobalAveragePooling2D: convertGlobalAveragePooling2D,
  GlobalMaxPooling2D: convertGlobalAveragePooling2D,
  GraftAdaptiveAvgPool2D: convertGraftAdaptiveAvgPool2D,
};
