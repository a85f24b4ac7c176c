/** Elementwise merges and concatenation. */
import type { ConvertContext } from './context.js';
import type { LayerArgs, LayerConverter } from './index.js';
import { fail, attr } from './util.js';

function convertAdd(ctx: ConvertContext, { layer, t, base, shape, cls }: LayerArgs): void {
  const xs = ctx.inputsOf(t).map((v) => ctx.settle(v));
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
    name = ctx.b.node('Sub', names, base);
  } else if (names.length === 2 && (cls === 'Add' || cls === 'Multiply')) {
    name = ctx.b.node(cls === 'Add' ? 'Add' : 'Mul', names, base);
  } else if (cls === 'Multiply') {
    name = names[0]!;
    for (let i = 1; i < names.length; i++) name = ctx.b.node('Mul', [name, names[i]!], i === names.length - 1 ? base : `${base}/${i}`);
  } else {
    const op = { Add: 'Sum', Average: 'Mean', Maximum: 'Max', Minimum: 'Min' }[cls]!;
    name = ctx.b.node(op, names, base);
  }
  ctx.vals.set(t.id, { name, shape });
}

function convertConcatenate(ctx: ConvertContext, { layer, t, cfg, base, shape }: LayerArgs): void {
  const xs = ctx.inputsOf(t).map((v) => ctx.settle(v));
  const rank = shape.length;
  let axis = typeof cfg.axis === 'number' ? cfg.axis : -1;
  if (axis < 0) axis += rank;
  if (axis <= 0 || axis >= rank) fail(layer, `concat axis ${String(cfg.axis)} is not supported`);
  for (const x of xs) if (x.shape.length !== rank) fail(layer, 'inputs of different ranks');
  const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis]! : axis;
  ctx.vals.set(t.id, { name: ctx.b.node('Concat', xs.map((x) => x.name), base, [attr.i('axis', onnxAxis)]), shape });
}

export const MERGE_CONVERTERS: Record<string, LayerConverter> = {
  Add: convertAdd,
  Multiply: convertAdd,
  Subtract: convertAdd,
  Average: convertAdd,
  Maximum: convertAdd,
  Minimum: convertAdd,
  Concatenate: convertConcatenate,
};
