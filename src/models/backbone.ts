/**
 * Opens a registered backbone as a feature extractor on an engine: onnxruntime (default; the
 * frozen network converted to ONNX by graft and cached under GRAFT_HOME keyed by the weights'
 * hash) or tfjs (fallback, and the reference the ORT graph is checked against).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import type { FrozenSession } from '../engine/ort.js';
import { createFrozenSession } from '../engine/ort-worker.js';
import { withPixelInput } from '../convert/pixel-input.js';
import { floatBatch } from '../data/decode.js';
import { layersModelToOnnx } from '../convert/tfjs-to-onnx.js';
import { graftHome, writeFileAtomic } from '../util/fs.js';
import { resolveBackbone } from './resolve.js';
import type { Backbone, BackboneSpec, EngineName, WeightsOption } from './types.js';

/** Bumped whenever the converter's output for the same weights changes. */
export const CONVERTER_VERSION = 1;

export interface OpenOptions {
  engine?: EngineName;
  /** Output layer: the spec's feature layer by default, a cut point, or 'logits' (the network's output). */
  layer?: string;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** Weights source (see WeightsOption): a file, 'imagenet', or the tag's default. */
  weights?: string;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The name `logits` means the network's own output layer (its classifier). */
export const LOGITS = 'logits';

function resolveLayer(model: tfl.LayersModel, layer: string): string {
  if (layer !== LOGITS) return layer;
  return model.outputLayers?.[0]?.name ?? model.layers[model.layers.length - 1].name;
}

function truncate(model: tfl.LayersModel, layer: string): tfl.LayersModel {
  layer = resolveLayer(model, layer);
  let out: tfl.SymbolicTensor;
  try {
    out = model.getLayer(layer).output as tfl.SymbolicTensor;
  } catch {
    throw new Error(`layer "${layer}" is not in the model`);
  }
  return tfl.model({ inputs: model.inputs, outputs: out });
}

/** Path of the cached ONNX graph of `spec` up to `layer` for the given weights. */
export function onnxCachePath(spec: BackboneSpec, layer: string, weightsHash: string): string {
  const safe = (s: string) => s.replace(/[^\w.-]+/g, '_').slice(-96); // model-file names are paths/URLs
  return path.join(graftHome(), 'onnx', `${safe(spec.name)}--${safe(layer)}--${weightsHash.slice(0, 16)}--c${CONVERTER_VERSION}.onnx`);
}

/** Load the cached ONNX bytes if present and intact (sidecar sha256), else convert and cache. */
export async function frozenOnnx(spec: BackboneSpec, layer: string, w: WeightsOption = {}): Promise<{ bytes: Uint8Array; weightsHash: string; converted: boolean }> {
  const weightsHash = await spec.weightsHash(w);
  const file = onnxCachePath(spec, layer, weightsHash);
  const side = file + '.sha256';
  if (fs.existsSync(file) && fs.existsSync(side)) {
    const bytes = fs.readFileSync(file);
    if (sha256(bytes) === fs.readFileSync(side, 'utf8').trim()) return { bytes, weightsHash, converted: false };
  }
  const { model, weightsHash: loadedHash } = await spec.load(w);
  if (loadedHash !== weightsHash) throw new Error(`${spec.name}: weights hash changed while loading`);
  let bytes: Uint8Array;
  try {
    bytes = layersModelToOnnx(model, { output: resolveLayer(model, layer) });
  } finally {
    model.dispose();
  }
  writeFileAtomic(file, bytes);
  writeFileAtomic(side, sha256(bytes) + '\n');
  return { bytes, weightsHash, converted: true };
}

/**
 * A frozen network in onnxruntime (in a worker thread: ort-worker.ts). It takes float32 batches,
 * or 8-bit RGB pixels through a copy of the graph with the normalisation folded in
 * (convert/pixel-input.ts; bit-identical); each kind of session is created on first use.
 */
class OrtBackbone implements Backbone {
  readonly engine = 'ort' as const;
  readonly pixelInput = true;
  forwardCount = 0;
  private readonly sessions: { float?: Promise<FrozenSession>; pixels?: Promise<FrozenSession> } = {};
  constructor(
    readonly spec: BackboneSpec,
    readonly weightsHash: string,
    readonly layer: string,
    public dim: number,
    private readonly onnx: Uint8Array,
    private readonly threads: number | undefined,
    /** The graph runs at most this many images at once. */
    private readonly maxBatch = Infinity,
  ) {}
  session(kind: 'float' | 'pixels'): Promise<FrozenSession> {
    return (this.sessions[kind] ??= createFrozenSession(kind === 'pixels' ? withPixelInput(this.onnx, this.spec.preprocess) : this.onnx, { threads: this.threads }));
  }
  async extract(batch: Float32Array | Uint8Array, n: number): Promise<Float32Array> {
    const [h, w] = this.spec.preprocess.size;
    const session = await this.session(batch instanceof Uint8Array ? 'pixels' : 'float');
    if (n <= this.maxBatch) {
      const out = await session.run(batch, [n, h, w, 3]);
      this.forwardCount += n;
      return out.data;
    }
    const per = h * w * 3;
    const out = new Float32Array(n * this.dim);
    for (let s = 0; s < n; s += this.maxBatch) {
      const m = Math.min(this.maxBatch, n - s);
      out.set((await session.run(batch.subarray(s * per, (s + m) * per), [m, h, w, 3])).data, s * this.dim);
      this.forwardCount += m;
    }
    return out;
  }
  async dispose(): Promise<void> {
    const open = Object.values(this.sessions);
    await Promise.all(open.map(async (p) => (await p.catch(() => undefined))?.release()));
  }
}

class TfjsBackbone implements Backbone {
  readonly engine = 'tfjs' as const;
  forwardCount = 0;
  constructor(readonly spec: BackboneSpec, readonly weightsHash: string, readonly layer: string, readonly dim: number, private readonly model: tfl.LayersModel) {}
  async extract(batch: Float32Array | Uint8Array, n: number): Promise<Float32Array> {
    const [h, w] = this.spec.preprocess.size;
    const x = floatBatch(batch, this.spec.preprocess);
    const y = tf.tidy(() => {
      const out = this.model.predict(tf.tensor4d(x, [n, h, w, 3])) as tf.Tensor;
      return tf.reshape(out, [n, -1]);
    });
    const data = (await y.data()) as Float32Array;
    y.dispose();
    this.forwardCount += n;
    return data;
  }
  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

function layerDim(spec: BackboneSpec, layer: string, dims: number[]): number {
  if (layer === spec.featureLayer) return spec.featureDim;
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

/** Open backbone `name` (`arch`, `arch.tag`, or a model file: see resolveBackbone) as a feature extractor. */
export async function openBackbone(name: string, opts: OpenOptions = {}): Promise<Backbone> {
  return openBackboneSpec(await resolveBackbone(name), opts);
}

/** Open a backbone from its spec (a registry entry, a bundle used as a backbone, …). */
export async function openBackboneSpec(spec: BackboneSpec, opts: OpenOptions = {}): Promise<Backbone> {
  const layer = opts.layer ?? spec.featureLayer;
  if (layer !== spec.featureLayer && layer !== LOGITS && !spec.cutPoints.includes(layer) && !spec.layers?.includes(layer)) {
    if (spec.layers) throw new Error(`"${layer}" is not a layer of ${spec.name}; use ${LOGITS}, ${spec.featureLayer} (features) or a name listed by \`graft zoo show ${spec.name}\``);
    throw new Error(`"${layer}" is not a cut point of ${spec.name}; use ${LOGITS}, ${spec.featureLayer} (features) or a cut point: ${spec.cutPoints.join(', ')}`);
  }
  const engine = opts.engine ?? 'ort';
  if (engine === 'ort') {
    // ONNX model files bring their own graph; everything else is converted from tfjs (and cached).
    const { bytes, weightsHash, maxBatch }: { bytes: Uint8Array; weightsHash: string; maxBatch?: number } = spec.onnx
      ? await spec.onnx(layer, { weights: opts.weights })
      : await frozenOnnx(spec, layer, { weights: opts.weights });
    const bb = new OrtBackbone(spec, weightsHash, layer, spec.featureDim, bytes, opts.threads, maxBatch);
    const [h, w] = spec.preprocess.size;
    try {
      // Start the pixel session now (extraction's path); it also tells the output size of other layers.
      const dims = (await (await bb.session('pixels')).run(new Uint8Array(h * w * 3), [1, h, w, 3])).dims;
      if (layer !== spec.featureLayer) bb.dim = layerDim(spec, layer, dims);
    } catch (e) {
      await bb.dispose();
      throw e;
    }
    return bb;
  }
  await initTf();
  const { model, weightsHash } = await spec.load({ weights: opts.weights });
  const cut = truncate(model, layer);
  const dims = (cut.outputs[0].shape as (number | null)[]).map((d) => d ?? 1);
  return new TfjsBackbone(spec, weightsHash, layer, layerDim(spec, layer, dims), cut);
}
