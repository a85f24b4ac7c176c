/**
 * Loads the pretrained tfjs layers models that the exact-pinned `nsfwjs` package ships
 * (topology + uint8-quantised weights as base64 in CommonJS files) into tfjs, offline.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import { registerBackbone } from './registry.js';
import type { BackboneSpec, WeightsOption } from './types.js';

export type NsfwjsModelName = 'mobilenet_v2' | 'inception_v3';

interface ModelModule {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Raw artifacts of an nsfwjs model plus a sha256 over topology and weight bytes. */
export interface NsfwjsArtifacts {
  topology: unknown;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
  sha256: string;
  /** nsfwjs package version the weights came from. */
  version: string;
}

function modelsDir(): string {
  const require = createRequire(import.meta.url);
  // nsfwjs's "exports" hides dist/models; resolve its entry and walk to the models folder.
  return path.join(path.dirname(require.resolve('nsfwjs')), '..', 'models');
}

export function nsfwjsVersion(): string {
  const require = createRequire(import.meta.url);
  const pkg = require(path.join(modelsDir(), '..', '..', 'package.json')) as { version: string };
  return pkg.version;
}

/** Read the model files shipped in node_modules/nsfwjs (no network). */
export function readNsfwjsArtifacts(name: NsfwjsModelName): NsfwjsArtifacts {
  const require = createRequire(import.meta.url);
  const dir = path.join(modelsDir(), name);
  let mod: ModelModule;
  try {
    mod = require(path.join(dir, 'model.min.js')) as ModelModule;
  } catch (e) {
    throw new Error(`cannot read the bundled ${name} model from ${dir} (is the nsfwjs package installed?): ${(e as Error).message}`);
  }
  const chunks: Buffer[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of mod.weightsManifest) {
    for (const p of group.paths) {
      const b64 = require(path.join(dir, `${p}.min.js`)) as string;
      chunks.push(Buffer.from(b64, 'base64'));
    }
    specs.push(...group.weights);
  }
  const all = Buffer.concat(chunks);
  const hash = createHash('sha256');
  hash.update(JSON.stringify(mod.modelTopology));
  hash.update(all);
  return {
    topology: mod.modelTopology,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
    sha256: hash.digest('hex'),
    version: nsfwjsVersion(),
  };
}

/** Load an nsfwjs model as a tfjs LayersModel (weights dequantised to float32). */
export async function loadNsfwjsModel(name: NsfwjsModelName): Promise<{ model: tfl.LayersModel; artifacts: NsfwjsArtifacts }> {
  await initTf();
  const artifacts = readNsfwjsArtifacts(name);
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: artifacts.topology as tf.io.ModelJSON['modelTopology'],
      weightSpecs: artifacts.weightSpecs,
      weightData: artifacts.weightData,
    }),
  );
  return { model, artifacts };
}

const hashCache = new Map<NsfwjsModelName, string>();

function refuseWeights(arch: NsfwjsModelName, w?: WeightsOption): void {
  if (w?.weights) throw new Error(`${arch}.nsfwjs uses the weights bundled in the nsfwjs package; --weights ${w.weights} does not apply to it`);
}

function mobilenetCutPoints(): string[] {
  const cuts = ['Conv1_relu', 'expanded_conv_project_BN'];
  // Keras MobileNetV2: blocks 1..16; blocks with a residual end in block_i_add.
  const residual = new Set([2, 4, 5, 7, 8, 9, 11, 12, 14, 15]);
  for (let i = 1; i <= 16; i++) cuts.push(residual.has(i) ? `block_${i}_add` : `block_${i}_project_BN`);
  cuts.push('out_relu');
  return cuts;
}

const PROVENANCE =
  'nsfwjs (MIT) weights: Keras applications network, ImageNet-initialised, then fine-tuned by the nsfwjs authors on a 5-class ' +
  'content-safety task (drawing/hentai/neutral/porn/sexy); shipped uint8-quantised inside the npm package. Not plain ImageNet weights.';

function nsfwjsSpec(arch: NsfwjsModelName, size: number, dim: number, cutPoints: string[]): BackboneSpec {
  return {
    name: `${arch}.nsfwjs`,
    arch,
    tag: 'nsfwjs',
    preprocess: { size: [size, size], resize: 'squash', mean: [0, 0, 0], std: [1, 1, 1] },
    featureLayer: 'flatten_1',
    featureDim: dim,
    cutPoints,
    provenance: PROVENANCE,
    license: 'MIT',
    bundled: true,
    async load(w) {
      refuseWeights(arch, w);
      const { model, artifacts } = await loadNsfwjsModel(arch);
      hashCache.set(arch, artifacts.sha256);
      return { model, weightsHash: artifacts.sha256 };
    },
    async paramCount() {
      return readNsfwjsArtifacts(arch).weightSpecs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    },
    async weightsHash(w) {
      refuseWeights(arch, w);
      let h = hashCache.get(arch);
      if (!h) {
        h = readNsfwjsArtifacts(arch).sha256;
        hashCache.set(arch, h);
      }
      return h;
    },
  };
}

function inceptionCutPoints(): string[] {
  const cuts: string[] = [];
  for (let i = 0; i <= 10; i++) cuts.push(`mixed${i}`);
  return cuts;
}

registerBackbone(nsfwjsSpec('mobilenet_v2', 224, 1280, mobilenetCutPoints()), { isDefaultTag: true });
registerBackbone(nsfwjsSpec('inception_v3', 299, 2048, inceptionCutPoints()), { isDefaultTag: true });
