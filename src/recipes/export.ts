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
import { clipSamples, WAVEFORM_INPUT, withWaveformInput } from '../convert/waveform-input.js';
import { waveformToRgb, type AudioFrontend } from '../audio/frontend.js';
import { normalizeRgb, type Preprocess } from '../data/decode.js';
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
  /** A sound model: the graph takes mono waveforms and runs graft's log-mel front-end itself (waveform-input.ts). */
  audio?: boolean;
}

export interface ExportResult {
  file: string;
  bytes: number;
  labels: string[];
  input: { name: 'input'; shape: [string, number, number, 3]; preprocess: unknown } | { name: typeof WAVEFORM_INPUT; shape: [string, number]; sampleRate: number; audio: AudioFrontend };
  output: { name: 'probabilities' | 'logits'; classes: number };
  /** Max |ONNX − graft tfjs| over the probe batch. */
  maxAbsDiff: number;
  web?: WebExample;
}

/** Metadata keys written into the ONNX file (ModelProto.metadata_props). */
export const ONNX_METADATA = { labels: 'graft.labels', preprocess: 'graft.preprocess', version: 'graft.version', backbone: 'graft.backbone', input: 'graft.input' } as const;

export async function exportOnnx(bundleDir: string, file: string, o: ExportOptions = {}): Promise<ExportResult> {
  await initTf();
  const meta = readBundleMeta(bundleDir);
  const net = await loadBundleNetwork(bundleDir, await bundleBaseSpec(bundleDir, meta));
  const outName = o.output ?? 'probabilities';
  if (o.web && outName === 'logits') throw new Error('--web: the example page shows probabilities; export without --logits');
  const fe = meta.preprocess.audio;
  if (o.audio && !fe) throw new Error(`${bundleDir}: --audio exports a sound model with its front-end, but this bundle reads images`);
  if (o.audio && o.web) throw new Error('--web runs image models in the page; export a sound model without --web');
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
        ...(o.audio && fe ? { [ONNX_METADATA.input]: `waveform: float32 [N, ${clipSamples(fe)}], mono at ${fe.sampleRate} Hz (${fe.duration} s, pad or crop centred); the log-mel front-end is in the graph` } : {}),
      },
    });
    const audio = o.audio ? withWaveformInput(bytes, meta.preprocess) : undefined;
    const maxAbsDiff = audio ? await probeAudio(model, audio, meta.preprocess) : await probe(model, bytes, meta.preprocess.size);
    const tolerance = o.tolerance ?? 1e-4;
    if (!(maxAbsDiff <= tolerance)) {
      throw new Error(`${bundleDir}: the exported ONNX graph differs from graft's network by ${maxAbsDiff} (> ${tolerance}); nothing written`);
    }
    writeFileAtomic(file, audio ?? bytes);
    const web = o.web ? await writeOnnxWeb(o.web, bytes, meta, { input: 'input', output: outName }) : undefined;
    const [h, w] = meta.preprocess.size;
    return {
      file,
      bytes: (audio ?? bytes).length,
      labels: meta.labels,
      input: audio && fe ? { name: WAVEFORM_INPUT, shape: ['N', clipSamples(fe)], sampleRate: fe.sampleRate, audio: fe } : { name: 'input', shape: ['N', h, w, 3], preprocess: meta.preprocess },
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

/**
 * A sound export checked end to end: two seeded waveforms (a tone with noise and a chirp) through
 * graft's own front-end + tfjs network and through the ONNX graph; max |difference| of the outputs.
 */
async function probeAudio(model: tfl.LayersModel, bytes: Uint8Array, pre: Preprocess): Promise<number> {
  const fe = pre.audio!;
  const L = clipSamples(fe);
  const r = rng(4242);
  const waves = [
    Float32Array.from({ length: L }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 440 * i) / fe.sampleRate) + 0.05 * (r() - 0.5)),
    Float32Array.from({ length: L }, (_, i) => 0.3 * Math.sin(2 * Math.PI * (100 + (fe.sampleRate / 8) * (i / L)) * (i / fe.sampleRate)) * (i < L / 2 ? 1 : 0.2)),
  ];
  const [h, w] = pre.size;
  const x = new Float32Array(waves.length * h * w * 3);
  waves.forEach((wave, i) => x.set(normalizeRgb(waveformToRgb(wave, fe, [h, w]), pre), i * h * w * 3));
  const y = tf.tidy(() => model.predict(tf.tensor4d(x, [waves.length, h, w, 3])) as tf.Tensor);
  const ref = (await y.data()) as Float32Array;
  y.dispose();
  const input = new Float32Array(waves.length * L);
  waves.forEach((wave, i) => input.set(wave, i * L));
  const session = await OrtSession.create(bytes);
  try {
    const { data } = await session.run(input, [waves.length, L]);
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(ref[i] - data[i]));
    return data.length === ref.length ? d : Infinity;
  } finally {
    await session.release();
  }
}
