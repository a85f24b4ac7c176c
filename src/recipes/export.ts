/**
 * `graft export BUNDLE --onnx FILE`: the bundle's whole network (pretrained prefix + fine-tuned
 * tail or head) as one ONNX classifier, usable from any ONNX runtime without graft.
 *
 * Input `input`: float32 [N, H, W, 3], already preprocessed the way the bundle says (its
 * `preprocess` — size, resize mode, mean/std — is stored in the model's metadata as JSON, next to
 * the labels). Output `probabilities` [N, classes] (or `logits` with `output: 'logits'`).
 * Before anything is written, the ONNX graph is run in onnxruntime on a probe batch and checked
 * against graft's own tfjs network (max |Δ| ≤ 1e-4).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../engine/tfjs.js';
import { OrtSession } from '../engine/ort.js';
import { layersModelToOnnx } from '../convert/tfjs-to-onnx.js';
import { readBundleMeta } from '../bundle/bundle.js';
import { loadBundleNetwork } from '../bundle/network.js';
import { bundleBaseSpec } from '../models/bundle-backbone.js';
import { writeFileAtomic } from '../util/fs.js';
import { rng } from '../util/rng.js';
import { GRAFT_VERSION } from '../version.js';
import { writeOnnxWeb, type WebExample } from '../export/onnx-web.js';
import '../models/backbone.js';

export interface ExportOptions {
  /** What the graph outputs (default probabilities: softmax of the logits). */
  output?: 'probabilities' | 'logits';
  /** ONNX opset (13–21, default 13). */
  opset?: number;
  /** Largest |ONNX − tfjs| accepted on the probe batch (default 1e-4). */
  tolerance?: number;
  /** Also write a browser example folder here (onnx-web.ts): page + model + onnxruntime-web. */
  web?: string;
}

export interface ExportResult {
  file: string;
  bytes: number;
  labels: string[];
  input: { name: 'input'; shape: [string, number, number, 3]; preprocess: unknown };
  output: { name: 'probabilities' | 'logits'; classes: number };
  /** Max |ONNX − graft tfjs| over the probe batch. */
  maxAbsDiff: number;
  web?: WebExample;
}

/** Metadata keys written into the ONNX file (ModelProto.metadata_props). */
export const ONNX_METADATA = { labels: 'graft.labels', preprocess: 'graft.preprocess', version: 'graft.version', backbone: 'graft.backbone' } as const;

export async function exportOnnx(bundleDir: string, file: string, o: ExportOptions = {}): Promise<ExportResult> {
  await initTf();
  const meta = readBundleMeta(bundleDir);
  const net = await loadBundleNetwork(bundleDir, await bundleBaseSpec(bundleDir, meta));
  const outName = o.output ?? 'probabilities';
  if (o.web && outName === 'logits') throw new Error('--web: the example page shows probabilities; export without --logits');
  let model = net.model;
  try {
    if (outName === 'probabilities') {
      const probs = tfl.layers.activation({ activation: 'softmax', name: 'probabilities' }).apply(model.outputs[0]) as tfl.SymbolicTensor;
      model = tfl.model({ inputs: net.model.inputs, outputs: probs, name: net.model.name });
    }
    const bytes = layersModelToOnnx(model, {
      output: model.outputLayers[0].name,
      inputName: 'input',
      outputName: outName,
      opset: o.opset,
      metadata: {
        [ONNX_METADATA.labels]: JSON.stringify(meta.labels),
        [ONNX_METADATA.preprocess]: JSON.stringify(meta.preprocess),
        [ONNX_METADATA.backbone]: meta.backbone.name,
        [ONNX_METADATA.version]: GRAFT_VERSION,
      },
    });
    const maxAbsDiff = await probe(model, bytes, meta.preprocess.size);
    const tolerance = o.tolerance ?? 1e-4;
    if (!(maxAbsDiff <= tolerance)) {
      throw new Error(`${bundleDir}: the exported ONNX graph differs from graft's network by ${maxAbsDiff} (> ${tolerance}); nothing written`);
    }
    writeFileAtomic(file, bytes);
    const web = o.web ? await writeOnnxWeb(o.web, bytes, meta, { input: 'input', output: outName }) : undefined;
    const [h, w] = meta.preprocess.size;
    return {
      file,
      bytes: bytes.length,
      labels: meta.labels,
      input: { name: 'input', shape: ['N', h, w, 3], preprocess: meta.preprocess },
      output: { name: outName, classes: meta.labels.length },
      maxAbsDiff,
      ...(web ? { web } : {}),
    };
  } finally {
    model.dispose();
  }
}

/** Run both the tfjs network and the ONNX bytes on a seeded random batch; max |difference|. */
async function probe(model: tfl.LayersModel, bytes: Uint8Array, [h, w]: [number, number]): Promise<number> {
  const n = 2;
  const r = rng(12345);
  const x = new Float32Array(n * h * w * 3);
  for (let i = 0; i < x.length; i++) x[i] = r() * 2 - 1;
  const y = tf.tidy(() => model.predict(tf.tensor4d(x, [n, h, w, 3])) as tf.Tensor);
  const ref = (await y.data()) as Float32Array;
  y.dispose();
  const session = await OrtSession.create(bytes);
  try {
    const { data } = await session.run(x, [n, h, w, 3]);
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(ref[i] - data[i]));
    return data.length === ref.length ? d : Infinity;
  } finally {
    await session.release();
  }
}
