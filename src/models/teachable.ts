/**
 * A Teachable Machine image model (its "Export → Tensorflow.js" files: model.json + weights.bin +
 * metadata.json) as a backbone: `--backbone ./tm/model.json` or `--from ./tm`. TM's model is a
 * MobileNet with a small head, nested as Sequential[truncated MobileNet, Sequential[Dense…]];
 * it is flattened into one graph so features (the input of the last Dense layer, as for any
 * TF.js model) and cut points are layers of it. Its preprocessing is what @teachablemachine/image
 * does: the central square scaled to imageSize (graft: center-crop, fraction 1) and px/127 − 1
 * (graft: mean = std = 127/255).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { reapply } from '../bundle/network.js';
import { modelArtifacts } from '../export/tfjs-artifacts.js';
import type { Preprocess } from '../data/decode.js';

export interface TmMetadata {
  labels: string[];
  imageSize?: number;
  grayscale?: boolean;
  packageName?: string;
  tmVersion?: string;
  modelName?: string;
}

/** TM's px/127 − 1 in graft's (px/255 − mean)/std form. */
export const TM_MEAN_STD = 127 / 255;

/** The metadata.json beside `modelJson` if it is Teachable Machine's, else undefined. */
export function readTmMetadata(modelJson: string): TmMetadata | undefined {
  const file = path.join(path.dirname(modelJson), 'metadata.json');
  if (!fs.existsSync(file)) return undefined;
  let m: Partial<TmMetadata>;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<TmMetadata>;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (m.packageName !== '@teachablemachine/image' && m.tmVersion === undefined) return undefined;
  if (!Array.isArray(m.labels)) throw new Error(`${file}: a Teachable Machine metadata.json without a "labels" list`);
  if (m.grayscale) throw new Error(`${file}: a grayscale Teachable Machine model; graft backbones take RGB images`);
  if (m.imageSize !== undefined && !(Number.isInteger(m.imageSize) && m.imageSize > 0)) throw new Error(`${file}: imageSize must be a positive integer, got ${m.imageSize}`);
  return m as TmMetadata;
}

/** A folder holding a Teachable Machine export (model.json + TM's metadata.json, no graft.json). */
export function isTeachableMachineDir(dir: string): boolean {
  const mj = path.join(dir, 'model.json');
  return fs.existsSync(mj) && !fs.existsSync(path.join(dir, 'graft.json')) && readTmMetadata(mj) !== undefined;
}

/** What @teachablemachine/image does to an image before the model, as graft preprocessing. */
export function tmPreprocess(m: TmMetadata, size: [number, number]): Preprocess {
  const s = m.imageSize ?? size[0];
  return { size: [s, s], resize: 'center-crop', cropFraction: 1, mean: [TM_MEAN_STD, TM_MEAN_STD, TM_MEAN_STD], std: [TM_MEAN_STD, TM_MEAN_STD, TM_MEAN_STD] };
}

/**
 * `model` with nested models inlined: one graph of fresh layers (each used once) holding the same
 * weights; `model` is disposed. Built by re-applying the layers to a new input, serialising that
 * graph and loading it back (so no layer keeps a node of the nested graph).
 */
export async function flattenModel(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  if (!model.layers.some((l) => 'layers' in l)) return model;
  const input = tfl.input({ shape: model.inputs[0]!.shape.slice(1) as number[], name: `${model.name}_input` });
  const { outputs } = reapply(model, [input]);
  const shared = tfl.model({ inputs: input, outputs: outputs[0]!, name: `${model.name}_flat` });
  try {
    const a = await modelArtifacts(shared);
    return await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  } finally {
    const vars = new Set<tfl.LayerVariable>();
    for (const l of [...shared.layers, ...model.layers]) for (const w of l.weights) vars.add(w);
    for (const v of vars) v.dispose();
  }
}
