/**
 * A bundle as one network: the pretrained backbone up to the bundle's layer (its feature layer or
 * the fine-tuning cut) followed by the bundle's own model (a head, or a fine-tuned tail + head),
 * rebuilt in tfjs from image input to logits. `graft export --onnx` converts it; `--from BUNDLE`
 * uses it (minus its classifier) as a frozen backbone.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { loadBundle, type BundleMeta } from './bundle.js';
import type { BackboneSpec } from '../models/types.js';

type Sym = tfl.SymbolicTensor;

export interface BundleNetwork {
  meta: BundleMeta;
  /** Preprocessed NHWC image batch → logits (inference mode: dropout is gone). */
  model: tfl.LayersModel;
  /** The layer whose output feeds the final classifier: the network's penultimate features. */
  featureLayer: string;
  /** The final classifier layer (its output = logits). */
  logitsLayer: string;
}

/**
 * Re-apply the layers of `model` (a bundle's head or tail+head) to `input` in place of its input,
 * flattening nested models (a fine-tuned tail is a model inside the bundle's model) so the result
 * is one plain graph the ONNX converter can walk. Dropout is inference-time identity and is left
 * out; a Reshape whose input already has the target shape (the tail's flattened-activations
 * adapter) is left out too.
 */
export function reapply(model: tfl.LayersModel, inputs: Sym[]): { outputs: Sym[]; last: tfl.layers.Layer | undefined } {
  const mapped = new Map<number, Sym>(model.inputs.map((t, i) => [t.id, inputs[i]!]));
  let last: tfl.layers.Layer | undefined;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    // A layer shared by several graphs has one node per graph: take this graph's.
    const node = layer.inboundNodes.find((nd) => nd.inputTensors.every((t) => mapped.has(t.id)));
    if (!node) throw new Error(`bundle model: layer ${layer.name} has an input that is not reachable from the bundle's input`);
    const ins = node.inputTensors.map((t) => mapped.get(t.id)!);
    const x = ins[0]!;
    const cls = layer.getClassName();
    const target = (layer.getConfig() as { targetShape?: number[] }).targetShape;
    let outs: Sym[];
    if ('layers' in layer && 'inputs' in layer) {
      const inner = reapply(layer as unknown as tfl.LayersModel, ins);
      outs = inner.outputs;
      last = inner.last;
    } else {
      if (cls === 'Dropout' || cls === 'SpatialDropout2D') outs = [x];
      else if (cls === 'Reshape' && target && sameShape(x.shape.slice(1), target)) outs = [x];
      else outs = [layer.apply(ins.length === 1 ? x : ins) as Sym];
      last = layer;
    }
    node.outputTensors.forEach((t, i) => mapped.set(t.id, outs[i]!));
  }
  return { outputs: model.outputs.map((t) => mapped.get(t.id)!), last };
}

function sameShape(a: (number | null)[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Build the whole network of the bundle in `dir`. `base` is the spec of the bundle's backbone (the
 * caller resolves it: registry name, user file, or an embedded bundle); its weights must hash to
 * what the bundle was trained on.
 */
export async function loadBundleNetwork(dir: string, base: BackboneSpec): Promise<BundleNetwork> {
  const { meta, head } = await loadBundle(dir);
  let full: tfl.LayersModel | undefined;
  try {
    let x: Sym;
    let inputs: Sym[];
    let layerName: string;
    if (base.arch === 'pixels') {
      // A network trained from scratch on pixels (small CNN): the bundle holds all of it; its input is the preprocessed image.
      const [h, w] = meta.preprocess.size;
      x = tfl.input({ shape: [h, w, 3], name: 'image' });
      inputs = [x];
      layerName = 'image';
    } else {
      const loaded = await base.load({ weights: meta.backbone.weights });
      full = loaded.model;
      if (loaded.weightsHash !== meta.backbone.weightsHash) {
        throw new Error(
          `${dir}: trained on ${base.name} weights ${meta.backbone.weightsHash.slice(0, 12)}, but the available weights are ${loaded.weightsHash.slice(0, 12)}; install the matching weights`,
        );
      }
      layerName = meta.backbone.layer === 'logits' ? full.outputLayers[0].name : meta.backbone.layer;
      x = full.getLayer(layerName).output as Sym;
      inputs = full.inputs;
    }
    const want = head.inputs[0].shape.slice(1);
    // A head on flattened rows gets a Flatten, unless its first layer reshapes them straight back
    // (a fine-tuned tail trained on cached cut activations).
    const first = head.layers.find((l) => l.getClassName() !== 'InputLayer');
    const target = (first?.getConfig() as { targetShape?: number[] } | undefined)?.targetShape;
    const undone = first?.getClassName() === 'Reshape' && target !== undefined && sameShape(x.shape.slice(1), target);
    if (x.shape.length > 2 && want.length === 1 && !undone) x = tfl.layers.flatten({ name: `${layerName}_flat` }).apply(x) as Sym;
    const { outputs, last } = reapply(head, [x]);
    if (!last || last.getClassName() !== 'Dense') throw new Error(`${dir}: expected the bundle's model to end in a Dense classifier, found ${last?.getClassName() ?? 'no layers'}`);
    const out = outputs[0]!;
    const penultimate = out.inputs![0]!;
    const model = tfl.model({ inputs, outputs: out, name: `bundle_${meta.backbone.name}` });
    // Layers of the pretrained network past the bundle's layer are replaced by the bundle's own.
    const used = new Set(model.layers);
    for (const l of full?.layers ?? []) if (!used.has(l)) for (const w of l.weights) w.dispose();
    return { meta, model, featureLayer: penultimate.sourceLayer.name, logitsLayer: last.name };
  } catch (e) {
    full?.dispose();
    head.dispose();
    throw e;
  }
}
