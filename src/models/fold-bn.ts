/**
 * Frozen BatchNorm folded into the convolution in front of it, for training a tail.
 *
 * A frozen (inference-mode) BatchNormalization is a per-channel affine map z·a + c with constant
 * a = γ/√(σ²+ε), c = β − μ·a. After a convolution z = conv(x, W) (+ bias), it equals one
 * convolution with W' = W·a (a broadcast over the output channel) and bias' = bias·a + c:
 * the two activation-sized passes (multiply, add) of every frozen BN forward and the multiply of
 * its backward disappear; W' is recomputed from the trainable W in every step (a weight-sized
 * multiply), so the tape gives dW = dW'·a. A ReLU / ReLU6 right after the BN runs inside the same
 * convolution op (`convAct`, one fused bias + clip pass; its gradient a mask of the output), so
 * the BN and activation layers then pass their input through. A ZeroPadding2D that only feeds
 * such a ('valid') convolution becomes its explicit padding (no padded copy, no Slice back). Same function as the unfolded
 * layers, up to float32 rounding (W·a rounded once instead of z·a per element); the one
 * difference: the folded ReLU6's gradient is 0 where the pre-activation is exactly 6 (the mask
 * is taken from the output, 0 < y < 6, as PyTorch's hardtanh does), where tfjs's relu6 passes it.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { convAct, type ConvActivation, type ConvPad } from '../engine/conv-act.js';
type Tensor = tf.Tensor;

/** The constants of a frozen BN: y = x·a + b (as `tail.ts` computes and caches them). */
export type BnAffine = () => { a: Tensor; b: Tensor };

interface ConvLike {
  kernel?: tfl.LayerVariable;
  depthwiseKernel?: tfl.LayerVariable;
  bias?: tfl.LayerVariable | null;
  useBias?: boolean;
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: number | [number, number];
  activation?: { getClassName?: () => string };
  depthMultiplier?: number;
}

type Own = { call: (i: Tensor | Tensor[], k: Record<string, unknown>) => Tensor; __graft?: Set<string> };

function setCall(layer: tfl.layers.Layer, tag: string, f: (x: Tensor) => Tensor): void {
  const own = layer as unknown as Own;
  own.__graft ??= new Set();
  own.call = (inputs) => tf.tidy(() => f(Array.isArray(inputs) ? inputs[0] : inputs));
  own.__graft.add(tag);
}

/** Whether `layer` (a BN or activation) was folded into the convolution before it (it then passes its input through). */
export function isFolded(layer: tfl.layers.Layer): boolean {
  return (layer as unknown as Own).__graft?.has('folded-into-conv') ?? false;
}

/** Whether `layer` is a convolution graft can fold a following BN into (NHWC, no activation, dilation 1). */
export function foldableConv(layer: tfl.layers.Layer): boolean {
  const cls = layer.getClassName();
  if (cls !== 'Conv2D' && cls !== 'DepthwiseConv2D') return false;
  const c = layer as unknown as ConvLike;
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate, c.dilationRate];
  const act = c.activation?.getClassName?.() ?? 'linear';
  return c.dataFormat === 'channelsLast' && ['same', 'valid'].includes(c.padding) && dil.every((d) => d === 1) && act === 'linear';
}

/** The activation of a ReLU layer that `convAct` can run (ReLU, ReLU(max_value=6)); undefined otherwise. */
export function foldableActivation(layer: tfl.layers.Layer): ConvActivation | undefined {
  const cls = layer.getClassName();
  const maxValue = (layer as unknown as { maxValue?: number | null }).maxValue;
  if (cls === 'ReLU') return maxValue === 6 ? 'relu6' : maxValue == null ? 'relu' : undefined;
  if (cls === 'Activation') {
    const fn = (layer as unknown as { activation?: { getClassName?: () => string } }).activation?.getClassName?.();
    return fn === 'relu' ? 'relu' : fn === 'relu6' ? 'relu6' : undefined;
  }
  return undefined;
}

/**
 * Fold the frozen BN `bn` (constants from `affine`) and optionally the activation layer `act`
 * into the convolution layer `conv`: conv runs `convAct(x, W·a, bias·a + b)`, bn and act pass
 * their input through. Once per layer (a layer folded before is left as it is).
 */
export function foldConvBn(
  conv: tfl.layers.Layer, bn: tfl.layers.Layer, affine: BnAffine,
  act?: { layer: tfl.layers.Layer; kind: ConvActivation }, padLayer?: tfl.layers.Layer,
): boolean {
  if (isFolded(bn) || (conv as unknown as Own).__graft?.has('bn-folded')) return false;
  const c = conv as unknown as ConvLike;
  const depthwise = conv.getClassName() === 'DepthwiseConv2D';
  const kernel = depthwise ? c.depthwiseKernel! : c.kernel!;
  const activation: ConvActivation = act?.kind ?? 'linear';
  // A ZeroPadding2D in front of a 'valid' convolution becomes the convolution's explicit padding.
  const zp = padLayer && (padLayer as unknown as { padding: [[number, number], [number, number]] }).padding;
  const pad: ConvPad = zp ? [[0, 0], zp[0], zp[1], [0, 0]] : (c.padding as 'same' | 'valid');
  setCall(conv, 'bn-folded', (x) => {
    const { a, b } = affine();
    const w = kernel.read();
    // Output channel o of a depthwise kernel [kh, kw, C, M] is c·M + m: a as [C, M].
    const scale = depthwise ? tf.reshape(a, [w.shape[2]!, w.shape[3]!]) : a;
    const filter = tf.mul(w, scale) as tf.Tensor4D;
    const bias = c.useBias && c.bias ? tf.add(tf.mul(c.bias.read(), a), b) : b;
    return convAct(x as tf.Tensor4D, filter, bias as tf.Tensor1D, { depthwise, strides: c.strides, pad, activation });
  });
  // Pass-through as a reshape to the same shape: it shares the data both ways. (A layer whose call
  // returns its input is cloned by tfjs-layers, and a clone's gradient is an activation-sized copy.)
  const through = (x: Tensor) => tf.reshape(x, x.shape);
  setCall(bn, 'folded-into-conv', through);
  if (act) setCall(act.layer, 'folded-into-conv', through);
  // (the convolution's input then has the unpadded shape: tfjs-layers checks only its rank and channels)
  if (padLayer) setCall(padLayer, 'folded-into-conv', through);
  return true;
}

type Sym = tfl.SymbolicTensor;

/** For each layer of `model`'s own graph, the layers that consume its output there, and that feed it. */
function graphOf(model: tfl.LayersModel): { consumers: Map<tfl.layers.Layer, tfl.layers.Layer[]>; producers: Map<tfl.layers.Layer, tfl.layers.Layer[]> } {
  const ids = new Set<number>();
  const todo: Sym[] = [...model.outputs];
  while (todo.length) {
    const t = todo.pop()!;
    if (ids.has(t.id)) continue;
    ids.add(t.id);
    const node = t.sourceLayer?.inboundNodes[t.nodeIndex];
    if (node) todo.push(...node.inputTensors);
  }
  const consumers = new Map<tfl.layers.Layer, tfl.layers.Layer[]>();
  const producers = new Map<tfl.layers.Layer, tfl.layers.Layer[]>();
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes.filter((nd) => ids.has(nd.outputTensors[0].id))) {
      for (const t of node.inputTensors) {
        const from = t.sourceLayer as tfl.layers.Layer;
        consumers.set(from, [...(consumers.get(from) ?? []), layer]);
        producers.set(layer, [...(producers.get(layer) ?? []), from]);
      }
    }
  }
  return { consumers, producers };
}

/** The ZeroPadding2D (NHWC) that feeds only `conv`, a 'valid' convolution; undefined otherwise. */
function padInFront(conv: tfl.layers.Layer, g: ReturnType<typeof graphOf>, outputs: Set<unknown>): tfl.layers.Layer | undefined {
  const from = g.producers.get(conv) ?? [];
  const p = from[0];
  if (from.length !== 1 || p.getClassName() !== 'ZeroPadding2D' || outputs.has(p) || (g.consumers.get(p) ?? []).length !== 1) return undefined;
  if ((conv as unknown as ConvLike).padding !== 'valid' || (p as unknown as { dataFormat: string }).dataFormat !== 'channelsLast') return undefined;
  return p;
}

/**
 * Fold every frozen BN of `model` that is the only consumer of a foldable convolution (and the
 * ReLU/ReLU6 that is the only consumer of that BN) into the convolution. `affineOf` gives a
 * frozen BN's constants (undefined for a BN that trains). Returns the number of BNs folded.
 */
export function foldBatchNorms(model: tfl.LayersModel, affineOf: (bn: tfl.layers.Layer) => BnAffine | undefined): number {
  const g = graphOf(model);
  const consumers = g.consumers;
  const outputs = new Set<unknown>(model.outputs.map((t) => t.sourceLayer));
  let n = 0;
  for (const conv of model.layers) {
    if (!foldableConv(conv) || outputs.has(conv)) continue;
    const next = consumers.get(conv) ?? [];
    if (next.length !== 1 || next[0].getClassName() !== 'BatchNormalization') continue;
    const bn = next[0];
    const affine = affineOf(bn);
    if (!affine) continue;
    const after = consumers.get(bn) ?? [];
    const kind = after.length === 1 && !outputs.has(bn) ? foldableActivation(after[0]) : undefined;
    if (foldConvBn(conv, bn, affine, kind ? { layer: after[0], kind } : undefined, padInFront(conv, g, outputs))) n++;
  }
  return n;
}
