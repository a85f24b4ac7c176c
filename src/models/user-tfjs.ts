/**
 * A user's TF.js layers `model.json` (a path, or a URL cached under $GRAFT_HOME) as a backbone.
 *
 * - Weights: the shards listed in the manifest, next to model.json; the weights hash is the sha256
 *   of topology + manifest + weight bytes, so an edited file never matches an old bundle.
 * - Features: the input of the last Dense layer (Dropout-like layers skipped), i.e. the
 *   penultimate output, flattened; no Dense layer → the model's output. `--layer` takes any layer.
 * - Cut points (for finetune): layers whose output is the only activation alive at that point
 *   (what `buildTail` accepts), except right before a BatchNormalization or activation layer.
 * - Preprocessing default: squash-resize to the input shape, pixels in [0,1] (`x/255`, mean 0,
 *   std 1) — what graft's bundled TF.js models and `tf.browser.fromPixels(img).div(255)` use.
 *   Models trained on [-1,1] (Keras MobileNet, Teachable Machine) need `--mean 0.5 --std 0.5`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import { applyOverrides, cachedFile, type FileRef } from './file-ref.js';
import { DownloadError } from '../util/download.js';
import type { BackboneSpec, WeightsOption } from './types.js';
import { flattenModel, readTmMetadata, tmPreprocess } from './teachable.js';

interface Artifacts {
  topology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
  sha256: string;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** Layers that are the identity at inference time (skipped when looking for the feature layer). */
const IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);
/** A cut right before one of these would split a conv from its normalisation/activation. */
const NO_CUT_BEFORE = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU', 'Softmax']);

function expectedBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const w of specs) {
    const per = DTYPE_BYTES[w.quantization?.dtype ?? w.dtype];
    if (per === undefined) return undefined; // strings: variable size
    total += per * w.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/** Local model.json for a reference: the path itself, or the URL's cached copy (downloading it and its shards). */
async function localModelJson(ref: FileRef): Promise<string> {
  if (!ref.isUrl) return ref.location;
  try {
    const jsonFile = await cachedFile(ref.location, path.posix.basename(new URL(ref.location).pathname));
    for (const p of readModelJson(jsonFile).manifest.flatMap((g) => g.paths)) await cachedFile(ref.location, p);
    return jsonFile;
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new Error(`${e.message}\nThe weight shards listed in model.json's weightsManifest go in the same folder as model.json.`, { cause: e });
  }
}

/** The parsed model.json: topology and weights manifest, checked. */
function readModelJson(file: string): { topology: object; manifest: tf.io.WeightsManifestConfig } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${(e as Error).message})`);
  }
  let j: { modelTopology?: unknown; weightsManifest?: unknown; format?: string };
  try {
    j = JSON.parse(text) as typeof j;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const topo = j.modelTopology as { node?: unknown } | undefined;
  if (j.format === 'graph-model' || topo?.node) throw new Error(`${file}: a TF.js graph model; graft reads TF.js layers models ("format": "layers-model")`);
  if (!topo || typeof topo !== 'object') throw new Error(`${file}: not a TF.js layers model (no modelTopology)`);
  const m = j.weightsManifest as tf.io.WeightsManifestConfig | undefined;
  if (!Array.isArray(m) || m.some((g) => !Array.isArray(g?.paths) || !Array.isArray(g?.weights))) {
    throw new Error(`${file}: no valid weightsManifest (a list of {paths, weights})`);
  }
  return { topology: topo, manifest: m };
}

/** Topology, weight specs and the concatenated shards of a model.json, checked. */
function readArtifacts(file: string): Artifacts {
  const { topology, manifest } = readModelJson(file);
  const dir = path.dirname(file);
  const chunks: Buffer[] = [];
  for (const p of manifest.flatMap((g) => g.paths)) {
    const shard = path.join(dir, p);
    if (!fs.existsSync(shard)) throw new Error(`${file}: weights shard "${p}" is missing (expected at ${shard})`);
    chunks.push(fs.readFileSync(shard));
  }
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const all = Buffer.concat(chunks);
  const want = expectedBytes(weightSpecs);
  if (want !== undefined && want !== all.length) {
    throw new Error(`${file}: the weight shards hold ${all.length} bytes but the manifest describes ${want} (a shard is truncated or from another model)`);
  }
  const sha256 = createHash('sha256').update(JSON.stringify({ topology, weightSpecs })).update(all).digest('hex');
  return { topology, weightSpecs, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer, sha256 };
}

async function buildModel(file: string, a: Artifacts): Promise<tfl.LayersModel> {
  await initTf();
  try {
    const m = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.topology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
    // Teachable Machine nests its MobileNet and head (teachable.ts): one flat graph instead.
    return readTmMetadata(file) ? await flattenModel(m) : m;
  } catch (e) {
    throw new Error(`${file}: tfjs-layers cannot build this model (${(e as Error).message})`);
  }
}

type Sym = tfl.SymbolicTensor;
const outputOf = (l: tfl.layers.Layer): Sym => l.inboundNodes[0]!.outputTensors[0]!;

/** The layer whose output feeds the last Dense layer (skipping identity layers), else the output layer. */
function featureLayerOf(model: tfl.LayersModel): string {
  const dense = [...model.layers].reverse().find((l) => l.getClassName() === 'Dense');
  let src = dense?.inboundNodes[0]?.inputTensors[0]?.sourceLayer;
  while (src && IDENTITY.has(src.getClassName())) src = src.inboundNodes[0]?.inputTensors[0]?.sourceLayer;
  if (!src || src.getClassName() === 'InputLayer') return model.outputLayers[0]!.name;
  return src.name;
}

/** Layers before `featureLayer` whose output is the only activation still needed after them. */
function cutPointsOf(model: tfl.LayersModel, featureLayer: string): string[] {
  const layers = model.layers;
  if (model.inputs.length !== 1 || layers.some((l) => l.inboundNodes.length !== 1 || l.inboundNodes[0]!.outputTensors.length !== 1)) return [];
  const index = new Map(layers.map((l, i) => [l, i]));
  const lastUse = layers.map(() => -1);
  layers.forEach((l, j) => {
    for (const t of l.inboundNodes[0]!.inputTensors) {
      const i = index.get(t.sourceLayer as tfl.layers.Layer);
      if (i !== undefined) lastUse[i] = Math.max(lastUse[i]!, j);
    }
  });
  const stop = index.get(model.getLayer(featureLayer)) ?? -1;
  const cuts: string[] = [];
  let liveUntil = -1; // the furthest use of any output produced before layer i
  for (let i = 0; i < stop; i++) {
    const l = layers[i]!;
    const shapeKnown = outputOf(l).shape.slice(1).every((d) => d !== null);
    if (i > 0 && liveUntil <= i && lastUse[i]! > i && shapeKnown && !NO_CUT_BEFORE.has(layers[i + 1]!.getClassName())) cuts.push(l.name);
    liveUntil = Math.max(liveUntil, lastUse[i]!);
  }
  return cuts;
}

function refuseWeights(ref: FileRef, w?: WeightsOption): void {
  if (w?.weights) throw new Error(`${ref.location}: --weights ${w.weights} does not apply to a model file (its weights are the file's)`);
}

/** Number of values of a layer's output per image (running the model once if a dim is unknown). */
function outputDim(model: tfl.LayersModel, layer: string, size: [number, number]): number {
  const shape = outputOf(model.getLayer(layer)).shape.slice(1);
  if (shape.every((d) => d !== null)) return (shape as number[]).reduce((a, b) => a * b, 1);
  const sub = tfl.model({ inputs: model.inputs, outputs: outputOf(model.getLayer(layer)) });
  return tf.tidy(() => (sub.predict(tf.zeros([1, ...size, 3])) as tf.Tensor).size);
}

/** The backbone spec of a TF.js layers model file (see the module comment). */
export async function tfjsFileSpec(ref: FileRef): Promise<BackboneSpec> {
  const file = await localModelJson(ref);
  const artifacts = readArtifacts(file);
  const hash = artifacts.sha256;
  const model = await buildModel(file, artifacts);
  try {
    if (model.inputs.length !== 1) throw new Error(`${file}: the model has ${model.inputs.length} inputs; a backbone takes one image batch`);
    const shape = model.inputs[0]!.shape;
    if (shape.length !== 4 || shape[3] !== 3) throw new Error(`${file}: input shape [${shape.map((d) => d ?? '?').join(',')}] is not an RGB image batch [N,H,W,3]`);
    const fixed = shape[1] !== null && shape[2] !== null ? ([shape[1], shape[2]] as [number, number]) : undefined;
    const size = ref.overrides.size ?? fixed;
    if (!size) throw new Error(`${file}: the input size is not fixed in the model; give it with --input-size H[xW]`);
    if (fixed && (fixed[0] !== size[0] || fixed[1] !== size[1])) throw new Error(`${file}: the model takes ${fixed.join('×')} inputs, not ${size.join('×')}`);
    const featureLayer = featureLayerOf(model);
    const tm = readTmMetadata(file);
    const paramCount = artifacts.weightSpecs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    return {
      name: ref.name,
      arch: 'tfjs',
      tag: ref.isUrl ? 'url' : 'file',
      preprocess: applyOverrides(tm ? tmPreprocess(tm, size) : { size, resize: 'squash', mean: [0, 0, 0], std: [1, 1, 1] }, ref.overrides),
      featureLayer,
      featureDim: outputDim(model, featureLayer, size),
      cutPoints: cutPointsOf(model, featureLayer),
      layers: model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name),
      provenance: `your ${tm ? `Teachable Machine model (${tm.labels.length} classes: ${tm.labels.slice(0, 5).join(', ')})` : 'TF.js layers model'} ${ref.location}${ref.isUrl ? ` (cached at ${file})` : ''}, weights sha256 ${hash.slice(0, 12)}`,
      license: 'as given by the model’s source',
      bundled: false,
      async load(w) {
        refuseWeights(ref, w);
        const a = readArtifacts(await localModelJson(ref));
        return { model: await buildModel(file, a), weightsHash: a.sha256 };
      },
      async weightsHash(w) {
        refuseWeights(ref, w);
        return hash;
      },
      async paramCount() {
        return paramCount;
      },
    };
  } finally {
    model.dispose();
  }
}
