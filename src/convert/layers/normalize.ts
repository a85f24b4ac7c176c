/** graft's feature normalisation layer (src/train/centre-l2.ts): centre, then L2-normalise each row. */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, layerWeights, weight } from './util.js';

function convertGraftCentreL2(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const x = ctx.settle(ctx.one(layer, t));
  if (x.shape.length !== 2) fail(layer, `only [N,D] input is supported (got rank ${x.shape.length})`);
  const mean = weight(layer, layerWeights(layer), 'mean', 1);
  const eps = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-12;
  const { b } = ctx;
  const c = b.node('Sub', [x.name, b.float(`${base}/mean`, [mean.shape[0]!], mean.data)], `${base}/centred`);
  const sq = b.node('Mul', [c, c], `${base}/sq`);
  // ReduceSum takes its axes as an input from opset 13 (ReduceL2 only from 18): works for 13–21.
  const ss = b.node('ReduceSum', [sq, b.int64(`${base}/axes`, [1], [1])], `${base}/sumsq`);
  const norm = b.node('Max', [b.node('Sqrt', [ss], `${base}/norm`), b.scalar(eps)], `${base}/norm_floor`);
  ctx.vals.set(t.id, { name: b.node('Div', [c, norm], base), shape });
}

export const NORMALIZE_CONVERTERS: Record<string, LayerConverter> = {
  GraftCentreL2: convertGraftCentreL2,
};
