/**
 * `graft export BUNDLE --teachable-machine DIR`: the bundle as a Teachable Machine image model —
 * model.json + weights.bin + metadata.json, the files TM's "Export → Tensorflow.js" download holds
 * and `tmImage.load(modelURL, metadataURL)` of @teachablemachine/image reads (labels, imageSize).
 * That library feeds the model px/127 − 1 of the central square scaled to imageSize; the model's
 * first layer maps that back to graft's own normalisation, so `model.predict(img)` gives graft's
 * probabilities. Parity is checked (≤1e-4) on a probe batch encoded exactly as the library does.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ClientInput } from '../export/pixel-model.js';
import { exportTfjs, type TfjsExportOptions, type TfjsExportResult } from './export-tfjs.js';
import { readBundleMeta, type BundleMeta } from '../bundle/bundle.js';
import { GRAFT_VERSION } from '../version.js';

export const TM_CLIENT = '@teachablemachine/image (tmImage.load)';
/** The @teachablemachine/image release whose reader this layout targets (and the tests load). */
export const TM_IMAGE_VERSION = '0.8.5';

/** What tmImage's capture() feeds the model: tf.div(px, 127) then − 1, in float32. */
export const TM_INPUT: ClientInput = {
  scale: 1 / 127,
  offset: -1,
  encode(px) {
    const out = new Float32Array(px.length);
    for (let i = 0; i < px.length; i++) out[i] = Math.fround(Math.fround(px[i]! / 127) - 1);
    return out;
  },
};

export interface TeachableExportResult extends TfjsExportResult {
  imageSize: number;
  /** How TM's resize (central square → imageSize) relates to the bundle's own. */
  resizeNote: string;
}

/** metadata.json as Teachable Machine writes it (fields tmImage reads: labels, imageSize, grayscale). */
export function tmMetadata(meta: BundleMeta): Record<string, unknown> {
  return {
    tfjsVersion: tfl.version_layers,
    packageVersion: TM_IMAGE_VERSION,
    packageName: '@teachablemachine/image',
    timeStamp: new Date().toISOString(),
    userMetadata: { graft: { version: GRAFT_VERSION, backbone: meta.backbone.name, preprocess: meta.preprocess } },
    modelName: `graft-${meta.backbone.name}`,
    labels: meta.labels,
    imageSize: meta.preprocess.size[0],
    grayscale: false,
  };
}

function resizeNote(meta: BundleMeta): string {
  const p = meta.preprocess;
  const s = p.size[0];
  if (p.resize === 'squash') return `Teachable Machine crops the central square and scales it to ${s}×${s}; the bundle squashes whole images: identical on square images`;
  const cf = p.cropFraction ?? 0.875;
  return cf === 1
    ? `Teachable Machine crops the central square and scales it to ${s}×${s}, as the bundle does (center-crop, fraction 1)`
    : `Teachable Machine crops the central square and scales it to ${s}×${s}; the bundle crops the central ${cf} of it: images framed for the bundle should be cropped by the page first`;
}

export async function exportTeachableMachine(bundleDir: string, outDir: string, o: Pick<TfjsExportOptions, 'quantize' | 'tolerance' | 'evalData'> = {}): Promise<TeachableExportResult> {
  const meta = readBundleMeta(bundleDir);
  const [h, w] = meta.preprocess.size;
  if (h !== w) throw new Error(`${bundleDir}: the network takes ${h}×${w} images; ${TM_CLIENT} feeds square imageSize×imageSize images only`);
  const res = await exportTfjs(bundleDir, outDir, {
    ...o,
    client: TM_CLIENT,
    input: TM_INPUT,
    singleWeightsFile: 'weights.bin',
    metadata: { input: `float32 [N, ${h}, ${w}, 3] = RGB pixels/127 − 1 (what @teachablemachine/image feeds)` },
    extraFiles: (m) => ({ 'metadata.json': JSON.stringify(tmMetadata(m), null, 2) + '\n' }),
  });
  return { ...res, imageSize: h, resizeNote: resizeNote(meta) };
}
