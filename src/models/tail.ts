/**
 * The trainable tail of a pretrained network: the layers between a cut point and an output layer,
 * rebuilt as their own tfjs model on a new input of the cut's shape. The tail shares its layer
 * objects (and so its pretrained weights) with the source model. Frozen-prefix activations come
 * from ORT (cached in the feature store); only the tail trains. The cut `INPUT_CUT` makes the
 * tail the whole network (nothing frozen in front of it; its rows are the preprocessed pixels).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import type { Backbone, BackboneSpec } from './types.js';
import { floatBatch } from '../data/decode.js';
import { foldBatchNorms, type BnAffine } from './fold-bn.js';
type Tensor = tf.Tensor;

/** The cut point before the first layer: fine-tune the whole network from the image input. */
export const INPUT_CUT = 'input';

/**
 * The empty frozen prefix of a whole-network fine-tune: its "features" are the preprocessed
 * pixels themselves (H·W·3 per image). `layer` names the network's input layer.
 */
export function inputBackbone(spec: BackboneSpec, weightsHash: string, layer = INPUT_CUT): Backbone {
  const dim = spec.preprocess.size[0] * spec.preprocess.size[1] * 3;
  return { spec, weightsHash, engine: 'tfjs', layer, dim, forwardCount: 0, extract: async (batch, n) => floatBatch(batch, spec.preprocess).subarray(0, n * dim), dispose: async () => undefined };
}

export interface TailOptions {
  /** Keep BatchNormalization layers in inference mode while training (default true, Keras guide). */
  freezeBatchNorm?: boolean;
  /**
   * Fold each frozen BatchNorm (and a ReLU/ReLU6 after it) into the convolution before it
   * (`fold-bn.ts`; default true, or GRAFT_FOLD_BN=0 to turn it off). Same function up to float32
   * rounding, fewer passes per step. The layers are shared with the source model, so the fold
   * applies to every graph they are in (they stay in the same order there).
   */
  foldBatchNorm?: boolean;
}

/** The frozen BNs' constants, for `foldBatchNorms`. */
const frozenAffine = new WeakMap<tfl.layers.Layer, BnAffine>();

type Sym = tfl.SymbolicTensor;

function tensorId(t: Sym): number {
  return t.id;
}

interface BnInternals {
  gamma?: tfl.LayerVariable | null;
  beta?: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
  epsilon: number;
}

/**
 * Replace a layer's `call` with `f` on its (single) input, once per `tag`; false if it already was.
 * graft's training-time rewrites of tfjs-layers layers (same values, cheaper steps) all go here.
 */
function replaceCall(layer: tfl.layers.Layer, tag: string, f: (x: Tensor) => Tensor): boolean {
  const own = layer as unknown as { call: (i: Tensor | Tensor[], k: Record<string, unknown>) => Tensor; __graft?: Set<string> };
  own.__graft ??= new Set();
  if (own.__graft.has(tag)) return false;
  own.call = (inputs) => tf.tidy(() => f(Array.isArray(inputs) ? inputs[0] : inputs));
  own.__graft.add(tag);
  return true;
}

/**
 * Freeze a BatchNormalization layer: it always uses its moving statistics (even when called with
 * training=true) and its parameters do not train. It runs as one per-channel affine map
 * x·a + b (a = γ/√(σ²+ε), b = β − μ·a): the same values as tfjs's batchNorm in inference mode,
 * but its gradient is a broadcast multiply, where tfjs's batch-norm gradient tiles the
 * statistics to the activation's full shape (that Tile was ~40% of a fine-tuning step).
 */
function freezeBatchNorm(layer: tfl.layers.Layer): void {
  const bn = layer as unknown as BnInternals;
  // a and b are constants while the layer is frozen: computed once, and again only when one of
  // its variables is assigned (setWeights, a checkpoint restore), which gives it a new dataId.
  let cache: { key: unknown[]; a: Tensor; b: Tensor } | undefined;
  const affine = (): { a: Tensor; b: Tensor } => {
    const vars = [bn.movingMean, bn.movingVariance, bn.gamma, bn.beta].map((v) => v?.read());
    const key = vars.map((v) => v?.dataId);
    if (cache && cache.key.every((k, i) => k === key[i])) return cache;
    if (cache) tf.dispose([cache.a, cache.b]);
    const [mean, variance, gamma, beta] = vars;
    const [a, b] = tf.tidy(() => {
      const inv = tf.rsqrt(tf.add(variance!, bn.epsilon));
      const a = gamma ? tf.mul(gamma, inv) : inv;
      const shift = tf.mul(mean!, a);
      return [a, beta ? tf.sub(beta, shift) : tf.neg(shift)];
    });
    cache = { key, a: tf.keep(a), b: tf.keep(b) }; // outlive the calling tidy
    return cache;
  };
  if (!replaceCall(layer, 'frozen-bn', (x) => {
    const { a, b } = affine();
    return tf.add(tf.mul(x, a), b);
  })) return;
  frozenAffine.set(layer, affine);
  layer.trainable = false;
  const dispose = layer.dispose.bind(layer);
  layer.dispose = () => {
    const r = dispose();
    if (r.refCountAfterDispose === 0 && cache) {
      tf.dispose([cache.a, cache.b]);
      cache = undefined;
    }
    return r;
  };
}

/**
 * A Keras `ReLU(max_value=6)` layer computes relu then clipByValue: two passes forward and two
 * gradient kernels back. tfjs's relu6 is the same function in one op (one SIMD gradient pass in
 * graft's kernels). Inference values are identical; only the tail's training step gets faster.
 */
function fuseRelu6(layer: tfl.layers.Layer): void {
  if (layer.getClassName() === 'ReLU' && (layer as unknown as { maxValue?: number }).maxValue === 6) replaceCall(layer, 'relu6', (x) => tf.relu6(x));
}

/**
 * A Conv2D fed by the tail's input runs as a plain (unfused) conv2d + bias + activation. tfjs's
 * fused conv2d has one combined gradient that always computes the input gradient too; the plain
 * op's gradient is per input, and the tape skips the input's — nothing upstream trains (measured
 * ~10% of a one-block MobileNetV2 step). Same values, forward and backward.
 */
function unfuseInputConv(layer: tfl.layers.Layer): void {
  type ConvInternals = {
    kernel: tfl.LayerVariable;
    bias?: tfl.LayerVariable | null;
    strides: [number, number];
    padding: string;
    dataFormat: string;
    dilationRate: [number, number];
    activation?: { apply(x: Tensor): Tensor };
  };
  const c = layer as unknown as ConvInternals;
  const tags = (layer as unknown as { __graft?: Set<string> }).__graft;
  if (tags?.has('bn-folded')) return; // its folded op's gradient skips the input's by itself
  if (layer.getClassName() !== 'Conv2D' || c.dataFormat !== 'channelsLast' || !['same', 'valid'].includes(c.padding)) return;
  replaceCall(layer, 'unfused-conv', (x) => {
    let y: Tensor = tf.conv2d(x as tf.Tensor4D, c.kernel.read() as tf.Tensor4D, c.strides, c.padding as 'same' | 'valid', 'NHWC', c.dilationRate);
    if (c.bias) y = tf.add(y, c.bias.read());
    return c.activation ? c.activation.apply(y) : y;
  });
}

/** Ids of every symbolic tensor of `model`'s own graph (from its outputs back to its inputs). */
function graphTensorIds(model: tfl.LayersModel): Set<number> {
  const seen = new Set<number>();
  const todo: Sym[] = [...model.outputs];
  while (todo.length) {
    const t = todo.pop()!;
    if (seen.has(tensorId(t))) continue;
    seen.add(tensorId(t));
    const node = t.sourceLayer?.inboundNodes[t.nodeIndex];
    if (node) todo.push(...node.inputTensors);
  }
  return seen;
}

/**
 * Layers of `model` after `cut` up to `output`, applied to a fresh input shaped like the cut's
 * output. Throws if a layer after the cut needs a tensor from before it (a cut inside a block).
 */
export function buildTail(model: tfl.LayersModel, cut: string, output: string, opts: TailOptions = {}): tfl.LayersModel {
  const cutLayer = cut === INPUT_CUT ? model.inputLayers[0] : model.getLayer(cut);
  const outLayer = model.getLayer(output);
  // The cut's node in this model's graph (a layer shared with another graph has a node per graph).
  const inGraph = graphTensorIds(model);
  const cutNode = cut === INPUT_CUT ? cutLayer.inboundNodes[0] : cutLayer.inboundNodes.find((nd) => inGraph.has(tensorId(nd.outputTensors[0])));
  if (!cutNode) throw new Error(`cut "${cut}" is not in the graph of ${model.name}`);
  const cutOut = cutNode.outputTensors[0];
  const input = tfl.input({ shape: cutOut.shape.slice(1) as number[], name: `${cut}_activations` });
  const mapped = new Map<number, Sym>([[tensorId(cutOut), input]]);
  const order = model.layers;
  const start = order.indexOf(cutLayer);
  let outNode: (typeof outLayer.inboundNodes)[number] | undefined;
  for (const layer of order.slice(start + 1)) {
    // A layer shared by several graphs (a bundle's tail rebuilt on its backbone) has one node per
    // graph: take the one fed from this graph's cut.
    const node = layer.inboundNodes.find((nd) => nd.inputTensors.some((t) => mapped.has(tensorId(t))));
    if (!node) continue; // a branch not fed by the cut (e.g. another head)
    const ins = node.inputTensors.map((t) => mapped.get(tensorId(t)));
    if (ins.some((t) => t === undefined)) {
      throw new Error(`cut "${cut}" is inside a block: layer ${layer.name} also needs a tensor from before the cut`);
    }
    // Everything in the tail trains (a pretrained file may mark layers non-trainable), except frozen BatchNorm.
    if (layer.getClassName() === 'BatchNormalization' && opts.freezeBatchNorm !== false) freezeBatchNorm(layer);
    else layer.trainable = true;
    fuseRelu6(layer);
    if (ins.length === 1 && ins[0] === input) unfuseInputConv(layer);
    const out = layer.apply(ins.length === 1 ? ins[0]! : (ins as Sym[])) as Sym;
    mapped.set(tensorId(node.outputTensors[0]), out);
    if (layer === outLayer) {
      outNode = node;
      break;
    }
  }
  const out = outNode && mapped.get(tensorId(outNode.outputTensors[0]));
  if (!out) throw new Error(`layer "${output}" is not reachable from the cut "${cut}"`);
  const tail = tfl.model({ inputs: input, outputs: out, name: `tail_${cut}` });
  const fold = opts.foldBatchNorm ?? process.env.GRAFT_FOLD_BN !== '0';
  if (fold && opts.freezeBatchNorm !== false) foldBatchNorms(tail, (bn) => frozenAffine.get(bn));
  return tail;
}

/**
 * Copies of every layer's weights, layer by layer. (Model-level getWeights orders weights by
 * trainability, which changes once a tail is made trainable, so it cannot be fed back later.)
 */
export function snapshotWeights(model: tfl.LayersModel): Tensor[][] {
  return model.layers.map((l) => l.getWeights().map((w) => tf.clone(w)));
}

/** Put a snapshot back (the model's layers must be the ones it was taken from). */
export function restoreWeights(model: tfl.LayersModel, snap: Tensor[][]): void {
  model.layers.forEach((l, i) => snap[i].length && l.setWeights(snap[i]));
}

export function disposeSnapshot(snap: Tensor[][]): void {
  snap.forEach((ws) => ws.forEach((w) => w.dispose()));
}
