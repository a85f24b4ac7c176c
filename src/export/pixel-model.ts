/**
 * A bundle's whole network as one plain tfjs LayersModel that takes 0–255 RGB pixels (or the
 * client's own affine encoding of them) and returns probabilities: a 1×1 depthwise convolution does
 * the bundle's scaling/mean/std (out = px·1/(255·std) − mean/std per channel, as normalizeRgb
 * computes it), then every layer of
 * the bundle's network (frozen prefix, fine-tuned tail or head, flattened into one graph), then a
 * softmax. Only stock tfjs-layers classes may appear: a layer graft defines itself would not load
 * in a client without graft, so the build refuses it, naming the layer and the client.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import { readBundleMeta, type BundleMeta } from '../bundle/bundle.js';
import { loadBundleNetwork, reapply } from '../bundle/network.js';
import { bundleBaseSpec } from '../models/bundle-backbone.js';
import { normalisation } from '../convert/pixel-input.js';
import { GraftCentreL2 } from '../train/centre-l2.js';
import { GraftAdaptiveAvgPool2D, GraftHardSigmoid, GraftHardSwish } from '../models/tv/layers.js';
import type { Preprocess } from '../data/decode.js';
import '../models/backbone.js';

type Sym = tfl.SymbolicTensor;

/** Layer classes graft registers itself (stock TF.js cannot deserialise them). */
export const GRAFT_LAYER_CLASSES: ReadonlySet<string> = new Set(
  [GraftCentreL2, GraftHardSigmoid, GraftHardSwish, GraftAdaptiveAvgPool2D].map((c) => c.className),
);

export const PIXEL_INPUT_NAME = 'pixels';
export const NORMALISE_LAYER = 'graft_normalise';
export const PROBABILITIES_LAYER = 'probabilities';

export interface PixelModel {
  meta: BundleMeta;
  /** uint8-valued float32 [N,H,W,3] pixels → probabilities [N, classes]. */
  model: tfl.LayersModel;
  /** graft's own network (preprocessed input → logits), for the parity check. */
  reference: tfl.LayersModel;
}

/** Refuse a network a stock client cannot load; `client` names who cannot (for the message). */
export function assertStockLayers(model: tfl.LayersModel, client: string, what: string): void {
  for (const l of model.layers) {
    const cls = l.getClassName();
    if (GRAFT_LAYER_CLASSES.has(cls)) {
      throw new Error(`${what}: layer "${l.name}" is ${cls}, a layer graft defines itself; ${client} cannot load it, so this network cannot be exported in this format (use --onnx)`);
    }
  }
}

/**
 * What the client feeds: t = px·scale + offset from 0–255 pixels px. Plain TF.js callers pass the
 * pixels (scale 1, offset 0); Teachable Machine's library feeds px/127 − 1.
 */
export interface ClientInput {
  scale: number;
  offset: number;
  /** The client's own arithmetic, in float32 as it does it (for the parity probe). */
  encode(px: Uint8Array): Float32Array;
}

export const RAW_PIXELS: ClientInput = { scale: 1, offset: 0, encode: (px) => Float32Array.from(px) };

/**
 * The 1×1 depthwise convolution that maps the client's input t to the network's input: with
 * px = (t − offset)/scale, out = px·s − o = t·(s/scale) − (o + offset·s/scale) per channel.
 */
function normalise(pre: Preprocess, input: Sym, client: ClientInput): Sym {
  const { scale, offset } = normalisation(pre);
  const layer = tfl.layers.depthwiseConv2d({ name: NORMALISE_LAYER, kernelSize: 1, depthMultiplier: 1, useBias: true, trainable: false });
  const out = layer.apply(input) as Sym;
  const k = scale.map((s) => s / client.scale);
  const w = [tf.tensor4d(k, [1, 1, 3, 1]), tf.tensor1d(offset.map((o, c) => -(o + client.offset * k[c]!)))];
  layer.setWeights(w);
  tf.dispose(w);
  return out;
}

/**
 * Build the pixel-input model of the bundle in `dir`. `client` is the library named when a layer
 * cannot be expressed. The caller disposes `model` (its weights are shared with `reference`).
 */
export async function buildPixelModel(dir: string, client: string, input: ClientInput = RAW_PIXELS): Promise<PixelModel> {
  await initTf();
  const meta = readBundleMeta(dir);
  const net = await loadBundleNetwork(dir, await bundleBaseSpec(dir, meta));
  try {
    assertStockLayers(net.model, client, dir);
    const [h, w] = meta.preprocess.size;
    const pixels = tfl.input({ shape: [h, w, 3], name: PIXEL_INPUT_NAME });
    const x = normalise(meta.preprocess, pixels, input);
    const { outputs } = reapply(net.model, [x]);
    const probs = tfl.layers.activation({ activation: 'softmax', name: PROBABILITIES_LAYER }).apply(outputs[0]!) as Sym;
    const model = tfl.model({ inputs: pixels, outputs: probs, name: `graft_${meta.backbone.name.replace(/[^A-Za-z0-9_]/g, '_')}` });
    return { meta, model, reference: net.model };
  } catch (e) {
    disposePixelModel({ meta, model: net.model, reference: net.model });
    throw e;
  }
}

/** Release both models: every weight of either, once (they share most layers). */
export function disposePixelModel(p: PixelModel): void {
  const vars = new Set<tfl.LayerVariable>();
  for (const l of [...p.model.layers, ...p.reference.layers]) for (const w of l.weights) vars.add(w);
  for (const v of vars) v.dispose();
}
