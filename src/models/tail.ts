/**
 * The trainable tail of a pretrained network: the layers between a cut point and an output layer,
 * rebuilt as their own tfjs model on a new input of the cut's shape. The tail shares its layer
 * objects (and so its pretrained weights) with the source model. Frozen-prefix activations come
 * from ORT (cached in the feature store); only the tail trains.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { Tensor } from '@tensorflow/tfjs-core';

export interface TailOptions {
  /** Keep BatchNormalization layers in inference mode while training (default true, Keras guide). */
  freezeBatchNorm?: boolean;
}

type Sym = tfl.SymbolicTensor;

function tensorId(t: Sym): number {
  return t.id;
}

/** Force a BatchNormalization layer to use its moving statistics even when called with training=true. */
function inferenceModeBatchNorm(layer: tfl.layers.Layer): void {
  const proto = Object.getPrototypeOf(layer) as { call: (i: Tensor | Tensor[], k: Record<string, unknown>) => Tensor | Tensor[] };
  const own = layer as unknown as { call: typeof proto.call; __graftFrozenBn?: boolean };
  if (own.__graftFrozenBn) return;
  own.call = function (this: tfl.layers.Layer, inputs, kwargs) {
    return proto.call.call(this, inputs, { ...kwargs, training: false });
  };
  own.__graftFrozenBn = true;
  layer.trainable = false;
}

/**
 * Layers of `model` after `cut` up to `output`, applied to a fresh input shaped like the cut's
 * output. Throws if a layer after the cut needs a tensor from before it (a cut inside a block).
 */
export function buildTail(model: tfl.LayersModel, cut: string, output: string, opts: TailOptions = {}): tfl.LayersModel {
  const cutLayer = model.getLayer(cut);
  const outLayer = model.getLayer(output);
  const cutOut = cutLayer.inboundNodes[0].outputTensors[0];
  const input = tfl.input({ shape: cutOut.shape.slice(1) as number[], name: `${cut}_activations` });
  const mapped = new Map<number, Sym>([[tensorId(cutOut), input]]);
  const order = model.layers;
  const start = order.indexOf(cutLayer);
  for (const layer of order.slice(start + 1)) {
    const node = layer.inboundNodes[0];
    const ins = node.inputTensors.map((t) => mapped.get(tensorId(t)));
    if (ins.every((t) => t === undefined)) continue; // a branch not fed by the cut (e.g. another head)
    if (ins.some((t) => t === undefined)) {
      throw new Error(`cut "${cut}" is inside a block: layer ${layer.name} also needs a tensor from before the cut`);
    }
    if (layer.getClassName() === 'BatchNormalization' && opts.freezeBatchNorm !== false) inferenceModeBatchNorm(layer);
    const out = layer.apply(ins.length === 1 ? ins[0]! : (ins as Sym[])) as Sym;
    mapped.set(tensorId(node.outputTensors[0]), out);
    if (layer === outLayer) break;
  }
  const out = mapped.get(tensorId(outLayer.inboundNodes[0].outputTensors[0]));
  if (!out) throw new Error(`layer "${output}" is not reachable from the cut "${cut}"`);
  return tfl.model({ inputs: input, outputs: out, name: `tail_${cut}` });
}
