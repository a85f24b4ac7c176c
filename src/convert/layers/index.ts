/**
 * Every Keras layer class the converter handles → its converter. Supporting a new layer is one
 * entry here (and its function in the family file). A converter reads its inputs' converted
 * values from `ctx.vals` and records its output(s) there.
 */
import type { ConvertContext } from './context.js';
import { IDENTITY_LAYERS, type Config, type Layer, type SymbolicTensor } from './util.js';
import { ACTIVATION_CONVERTERS } from './activation.js';
import { CONV_CONVERTERS } from './conv.js';
import { CORE_CONVERTERS } from './core.js';
import { MERGE_CONVERTERS } from './merge.js';
import { POOLING_CONVERTERS } from './pooling.js';
import { NORMALIZE_CONVERTERS } from './normalize.js';

export interface LayerArgs {
  layer: Layer;
  /** The layer's output tensor being converted. */
  t: SymbolicTensor;
  cfg: Config;
  /** Base name of the ONNX nodes it emits. */
  base: string;
  /** Keras output shape (batch first). */
  shape: (number | null)[];
  /** Keras class name. */
  cls: string;
}

export type LayerConverter = (ctx: ConvertContext, a: LayerArgs) => void;

/** Layers that are the identity at inference (dropout and noise). */
const identity: LayerConverter = (ctx, { layer, t }) => {
  ctx.vals.set(t.id, ctx.one(layer, t));
};

export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  ...CORE_CONVERTERS,
  ...CONV_CONVERTERS,
  ...ACTIVATION_CONVERTERS,
  ...MERGE_CONVERTERS,
  ...POOLING_CONVERTERS,
  ...NORMALIZE_CONVERTERS,
  ...Object.fromEntries([...IDENTITY_LAYERS].map((c) => [c, identity])),
};
