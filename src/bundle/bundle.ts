/**
 * The saved model (DESIGN §7): a directory with `graft.json` (format version, labels, backbone id
 * and weights hash, layer, preprocessing, head spec, metrics, training config), the head as a tfjs
 * `model.json` + `weights.bin`. Written to a temp directory and renamed into place (atomic).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import { writeDirAtomic } from '../util/fs.js';
import type { Preprocess } from '../data/decode.js';
import type { HeadSpec } from '../train/heads.js';
import { GRAFT_VERSION } from '../version.js';
import '../train/centre-l2.js'; // registers the layer of prototype and zero-shot heads

export const BUNDLE_FORMAT = 'graft-bundle';

/** The saved model is the network's tail from `cut` (input: flattened cut activations) + classifier. */
export interface TailHeadSpec {
  kind: 'tail';
  cut: string;
  blocks: number;
  inputShape: number[];
  numClasses: number;
  dropout: number;
  trainBn: boolean;
}
/**
 * Nearest class mean on CL2N features (src/strategies/fewshot/prototype.ts): the model is
 * CL2N → Dense. The support rows (raw features, grouped by class in label order, `counts[c]` rows
 * for class c) are kept in `support` so `graft add-class` can add or update a class exactly.
 */
export interface PrototypeHeadSpec {
  kind: 'prototype';
  inputDim: number;
  numClasses: number;
  temperature: number;
  /** How the temperature was chosen. */
  temperatureFrom: 'val' | 'default' | 'given';
  counts: number[];
  /** File in the bundle: float32 .npy [Σcounts, inputDim]. */
  support: string;
}

/** Classes described by attributes or embeddings (src/strategies/zeroshot/): CL2N → Dense over every class of the table. */
export interface ZeroShotHeadSpec {
  kind: 'zeroshot';
  method: string;
  inputDim: number;
  numClasses: number;
  /** Labels that had training images; the others are unseen. */
  seen: string[];
  temperature: number;
  /** Calibrated stacking: this is subtracted from every seen class's score (before ×T). */
  calibration: number;
  regularisers: Record<string, number>;
  /** Width of the class descriptions (attributes or embedding dimensions). */
  attributes: number;
}
export const BUNDLE_VERSION = 1;

export interface BundleMeta {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  createdBy: string;
  created: string;
  labels: string[];
  /** `weights`: the source given at training time (file path or 'imagenet'), if not the tag's default. */
  backbone: {
    name: string;
    weightsHash: string;
    layer: string;
    dim: number;
    weights?: string;
    /** Trained `--from` another bundle: the folder (inside this bundle) holding a copy of it. */
    from?: string;
  };
  preprocess: Preprocess;
  /** A head on features, or (fine-tuning) a pretrained tail from a cut point plus a new classifier. */
  head: HeadSpec | TailHeadSpec | PrototypeHeadSpec | ZeroShotHeadSpec;
  metrics: Record<string, unknown>;
  training: Record<string, unknown>;
  /** sha256 of every other file in the bundle. */
  files: Record<string, string>;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Serialise a tfjs model to { model.json, weights.bin } bytes. */
export async function serializeModel(model: tfl.LayersModel): Promise<{ json: string; weights: Uint8Array }> {
  let out: { json: string; weights: Uint8Array } | undefined;
  await model.save({
    save: async (a: tf.io.ModelArtifacts) => {
      const data = a.weightData as ArrayBuffer;
      out = {
        json: JSON.stringify({ format: 'layers-model', generatedBy: `graft ${GRAFT_VERSION}`, modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }),
        weights: new Uint8Array(data),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return out!;
}

/** Rebuild a tfjs model from model.json text + weights bytes. */
export async function deserializeModel(json: string, weights: Uint8Array): Promise<tfl.LayersModel> {
  await initTf();
  const mj = JSON.parse(json) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const buf = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest.flatMap((g) => g.weights), weightData: buf }));
}

/**
 * Write a bundle atomically to `dir`; `embed` copies another bundle into it (see
 * BundleMeta.backbone.from); `files` are extra files a head needs (checksummed like the model).
 */
export async function saveBundle(
  dir: string,
  meta: Omit<BundleMeta, 'format' | 'formatVersion' | 'createdBy' | 'created' | 'files'>,
  head: tfl.LayersModel,
  opts: { embed?: { name: string; source: string }; files?: Record<string, Uint8Array> } = {},
): Promise<BundleMeta> {
  const { json, weights } = await serializeModel(head);
  const extra = Object.entries(opts.files ?? {});
  const full: BundleMeta = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_VERSION,
    createdBy: `graft ${GRAFT_VERSION}`,
    created: new Date().toISOString(),
    ...meta,
    files: { 'model.json': sha256(json), 'weights.bin': sha256(weights), ...Object.fromEntries(extra.map(([n, b]) => [n, sha256(b)])) },
  };
  await writeDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'model.json'), json);
    fs.writeFileSync(path.join(tmp, 'weights.bin'), weights);
    for (const [n, b] of extra) fs.writeFileSync(path.join(tmp, n), b);
    if (opts.embed) fs.cpSync(opts.embed.source, path.join(tmp, opts.embed.name), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'graft.json'), JSON.stringify(full, null, 2) + '\n');
  });
  return full;
}

/** Read and validate `graft.json` of a bundle (clear errors for a missing or foreign bundle). */
export function readBundleMeta(dir: string): BundleMeta {
  const file = path.join(dir, 'graft.json');
  if (!fs.existsSync(dir)) throw new Error(`${dir}: no such bundle directory`);
  if (!fs.existsSync(file)) throw new Error(`${dir}: not a graft bundle (no graft.json)`);
  let meta: BundleMeta;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleMeta;
  } catch (e) {
    throw new Error(`${file}: unreadable (${(e as Error).message})`);
  }
  if (meta.format !== BUNDLE_FORMAT) throw new Error(`${file}: not a graft bundle (format "${String(meta.format)}")`);
  if (meta.formatVersion !== BUNDLE_VERSION) {
    throw new Error(`${file}: bundle format version ${meta.formatVersion} (written by ${meta.createdBy}); this graft ${GRAFT_VERSION} reads version ${BUNDLE_VERSION}`);
  }
  return meta;
}

/** A file of the bundle, its checksum verified. */
export function readBundleFile(dir: string, meta: BundleMeta, name: string): Buffer {
  const f = path.join(dir, name);
  if (!fs.existsSync(f)) throw new Error(`${dir}: bundle is missing ${name}`);
  const b = fs.readFileSync(f);
  if (meta.files[name] && sha256(b) !== meta.files[name]) throw new Error(`${f}: checksum mismatch (file changed or corrupt)`);
  return b;
}

/** Load a bundle: metadata plus the head model, with file checksums verified. */
export async function loadBundle(dir: string): Promise<{ meta: BundleMeta; head: tfl.LayersModel }> {
  const meta = readBundleMeta(dir);
  const read = (name: string) => readBundleFile(dir, meta, name);
  const json = read('model.json').toString('utf8');
  const head = await deserializeModel(json, read('weights.bin'));
  return { meta, head };
}
