/**
 * `graft export BUNDLE --tfjs DIR`: the bundle's whole network as one TF.js LayersModel that takes
 * 0–255 RGB pixels [N,H,W,3] (resizing is the caller's; scaling/mean/std are layers inside) and
 * returns probabilities — `tf.loadLayersModel(url)` in plain @tensorflow/tfjs is all a client
 * needs. Labels and input size travel in the model's userDefinedMetadata and in labels.json.
 * Before anything is written, the files are loaded back as a client would and compared with
 * graft's own network on a probe batch (max |Δ| ≤ 1e-4 unquantised).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { buildPixelModel, disposePixelModel, RAW_PIXELS, type ClientInput, type PixelModel } from '../export/pixel-model.js';
import { artifactsFromFiles, layersModelFiles, modelArtifacts, type WeightQuantization } from '../export/tfjs-artifacts.js';
import { normalizeRgb, type Preprocess } from '../data/decode.js';
import type { BundleMeta } from '../bundle/bundle.js';
import { writeDirAtomic } from '../util/fs.js';
import { rng } from '../util/rng.js';
import { GRAFT_VERSION } from '../version.js';
import { quantizationEffect, type QuantizationEffect } from '../export/quantize-eval.js';

export const TFJS_CLIENT = '@tensorflow/tfjs (tf.loadLayersModel)';

/** Largest |exported − graft| accepted on the probe batch, by weight encoding. */
export const TFJS_TOLERANCE: Record<WeightQuantization | 'float32', number> = { float32: 1e-4, float16: 5e-2, uint8: 1e-1 };

export interface TfjsExportOptions {
  quantize?: WeightQuantization;
  /** Override the tolerance of the parity check. */
  tolerance?: number;
  /** Extra files to write next to the model (name → bytes), e.g. Teachable Machine's metadata.json. */
  extraFiles?: (meta: BundleMeta) => Record<string, string | Uint8Array>;
  /** Who must be able to load it (named in refusals). */
  client?: string;
  /** What the client feeds the model (default: the 0–255 pixels themselves). */
  input?: ClientInput;
  /** One weights file of this name instead of 4 MiB shards (Teachable Machine writes weights.bin). */
  singleWeightsFile?: string;
  /** Extra userDefinedMetadata keys. */
  metadata?: Record<string, unknown>;
  /** Quantised: labelled images to measure the accuracy change on (default: the bundle's test split). */
  evalData?: string;
}

export interface TfjsExportResult {
  dir: string;
  files: { name: string; bytes: number }[];
  /** Total bytes of model.json + shards. */
  bytes: number;
  labels: string[];
  input: { name: string; shape: [string, number, number, 3]; pixels: '0-255 RGB'; resize: Preprocess['resize']; cropFraction?: number };
  output: { name: 'probabilities'; classes: number };
  quantize: WeightQuantization | 'float32';
  /** Max |loaded export − graft| over the probe batch. */
  maxAbsDiff: number;
  tolerance: number;
  /** uint8: kernels left float32 because an 8-bit grid over their range is too coarse (MAX_UINT8_STEP_RMS). */
  keptFloat32?: string[];
  /** Quantised exports: accuracy of float32 vs quantised weights on labelled images (null: none found). */
  quantization?: QuantizationEffect | null;
}

/** What a client finds in model.json's userDefinedMetadata. */
export function tfjsMetadata(meta: BundleMeta): Record<string, unknown> {
  const p = meta.preprocess;
  return {
    labels: meta.labels,
    imageSize: p.size,
    input: 'float32 [N, H, W, 3] RGB pixels 0-255, resized by the caller',
    resize: p.resize,
    ...(p.resize === 'center-crop' ? { cropFraction: p.cropFraction ?? 0.875 } : {}),
    backbone: meta.backbone.name,
    generatedBy: `graft ${GRAFT_VERSION}`,
  };
}

export async function exportTfjs(bundleDir: string, outDir: string, o: TfjsExportOptions = {}): Promise<TfjsExportResult> {
  const input = o.input ?? RAW_PIXELS;
  const pm = await buildPixelModel(bundleDir, o.client ?? TFJS_CLIENT, input);
  try {
    const { meta } = pm;
    const files = layersModelFiles(await modelArtifacts(pm.model), { ...tfjsMetadata(meta), ...o.metadata }, { quantize: o.quantize, singleFile: o.singleWeightsFile });
    const kind = o.quantize ?? 'float32';
    const tolerance = o.tolerance ?? TFJS_TOLERANCE[kind];
    // Loaded back from the files, as a client gets it.
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifactsFromFiles(files)));
    let maxAbsDiff: number;
    let quantization: QuantizationEffect | null | undefined;
    try {
      maxAbsDiff = await parity(pm, loaded, input);
      if (!(maxAbsDiff <= tolerance)) {
        throw new Error(`${bundleDir}: the exported TF.js model differs from graft's network by ${maxAbsDiff} (> ${tolerance}, ${kind} weights); nothing written`);
      }
      if (o.quantize) quantization = (await quantizationEffect(meta, pm.model, loaded, input, { evalData: o.evalData })) ?? null;
    } finally {
      loaded.dispose();
    }
    const modelBytes = [...files.values()].reduce((n, b) => n + b.length, 0);
    files.set('labels.json', new TextEncoder().encode(JSON.stringify(meta.labels) + '\n'));
    for (const [name, b] of Object.entries(o.extraFiles?.(meta) ?? {})) files.set(name, typeof b === 'string' ? new TextEncoder().encode(b) : b);
    await writeDirAtomic(outDir, (tmp) => {
      for (const [name, b] of files) fs.writeFileSync(path.join(tmp, name), b);
    });
    const [h, w] = meta.preprocess.size;
    return {
      dir: outDir,
      files: [...files].map(([name, b]) => ({ name, bytes: b.length })),
      bytes: modelBytes,
      labels: meta.labels,
      input: { name: pm.model.inputs[0]!.name, shape: ['N', h, w, 3], pixels: '0-255 RGB', resize: meta.preprocess.resize, ...(meta.preprocess.resize === 'center-crop' ? { cropFraction: meta.preprocess.cropFraction ?? 0.875 } : {}) },
      output: { name: 'probabilities', classes: meta.labels.length },
      quantize: kind,
      maxAbsDiff,
      tolerance,
      ...(o.quantize ? { keptFloat32: files.keptFloat32 ?? [] } : {}),
      ...(quantization !== undefined ? { quantization } : {}),
    };
  } finally {
    disposePixelModel(pm);
  }
}

/** Seeded random 8-bit pixels, n images of the bundle's size. */
export function probePixels(n: number, [h, w]: [number, number], seed = 12345): Uint8Array {
  const r = rng(seed);
  const px = new Uint8Array(n * h * w * 3);
  for (let i = 0; i < px.length; i++) px[i] = Math.floor(r() * 256);
  return px;
}

/** Max |probabilities of the loaded export − softmax(graft's logits)| on a probe batch. */
async function parity(pm: PixelModel, loaded: tfl.LayersModel, input: ClientInput): Promise<number> {
  const pre = pm.meta.preprocess;
  const [h, w] = pre.size;
  const n = 2;
  const px = probePixels(n, pre.size);
  const [a, b] = tf.tidy(() => [
    loaded.predict(tf.tensor4d(input.encode(px), [n, h, w, 3])) as tf.Tensor,
    tf.softmax(pm.reference.predict(tf.tensor4d(normalizeRgb(px, pre), [n, h, w, 3])) as tf.Tensor),
  ]);
  const [x, y] = [(await a!.data()) as Float32Array, (await b!.data()) as Float32Array];
  tf.dispose([a!, b!]);
  let d = 0;
  for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return x.length === y.length ? d : Infinity;
}
