/**
 * A whole-network bundle (a small CNN trained from pixels, `finetune --unfreeze all`) classified
 * in onnxruntime: at prediction time every layer is frozen, so it runs where graft runs frozen
 * layers (DESIGN §2). The bundle's network is converted once per load and checked against tfjs on
 * a seeded random batch (≤1e-4 max abs on the logits, export's bar); a network the converter does
 * not take, or one that misses the bar, stays in tfjs. Measured on graft's 14.7k-parameter small
 * CNN at 28 px: ~1 ms per image through tfjs-layers `predict` at batch 1 (per-op dispatch), a
 * fraction of that in ORT.
 */
import os from 'node:os';
import { tf } from '../engine/tfjs.js';
import { OrtSession } from '../engine/ort.js';
import { layersModelToOnnx } from '../convert/tfjs-to-onnx.js';
import { loadBundleNetwork } from '../bundle/network.js';
import type { BundleMeta } from '../bundle/bundle.js';
import type { BackboneSpec } from '../models/types.js';
import { rng } from '../util/rng.js';

const TOLERANCE = 1e-4;
/** Parameters below which a network runs on one ORT thread by default. */
const SMALL_NETWORK = 1_000_000;

export interface WholeNetworkSession {
  /** Softmax probabilities (n×k) of preprocessed NHWC rows. */
  probabilities(x: Float32Array, n: number): Promise<Float32Array>;
  /**
   * Softmax probabilities (n×k) of decoded 8-bit RGB images (H·W·3 each), normalised straight into
   * one input buffer the session keeps between calls (no per-image float arrays: the batch-1 path).
   */
  classifyRgb(images: Uint8Array[]): Promise<Float32Array>;
  release(): Promise<void>;
}

/** The bundle's network in ORT, or undefined (with the reason) when it cannot run there exactly. */
export async function wholeNetworkSession(dir: string, meta: BundleMeta, base: BackboneSpec, threads?: number): Promise<{ session?: WholeNetworkSession; reason?: string }> {
  const [h, w] = meta.preprocess.size;
  let net: Awaited<ReturnType<typeof loadBundleNetwork>> | undefined;
  let session: OrtSession | undefined;
  try {
    net = await loadBundleNetwork(dir, base);
    const model = net.model;
    const bytes = layersModelToOnnx(model, { output: model.outputLayers[0].name, inputName: 'input', outputName: 'logits' });
    // A small network runs fastest on one thread (batch 1: 1,186 img/s vs 568 on two, small CNN);
    // a large one (a whole fine-tuned MobileNetV2) wants every core.
    session = await OrtSession.create(bytes, { threads: threads ?? (model.countParams() < SMALL_NETWORK ? 1 : os.availableParallelism()) });
    // Parity on a seeded random batch, as export checks it.
    const r = rng(12345);
    const x = Float32Array.from({ length: 2 * h * w * 3 }, () => r() * 2 - 1);
    const ref = tf.tidy(() => (model.predict(tf.tensor4d(x, [2, h, w, 3])) as tf.Tensor).dataSync() as Float32Array);
    const { data } = await session.run(x, [2, h, w, 3]);
    const diff = data.length === ref.length ? ref.reduce((d, v, i) => Math.max(d, Math.abs(v - data[i]!)), 0) : Infinity;
    if (!(diff <= TOLERANCE)) throw new Error(`ONNX differs from tfjs by ${diff}`);
  } catch (e) {
    await session?.release();
    return { reason: (e as Error).message };
  } finally {
    net?.model.dispose();
  }
  const s = session;
  const k = meta.labels.length;
  const per = h * w * 3;
  const { mean, std } = meta.preprocess;
  const scale = std.map((v) => 1 / (255 * v));
  const offset = mean.map((m, c) => m / std[c]!);
  let input = new Float32Array(per);
  const run = async (x: Float32Array, n: number) => softmaxRows((await s.run(x.subarray(0, n * per), [n, h, w, 3])).data, n, k);
  return {
    session: {
      probabilities: run,
      async classifyRgb(images) {
        if (input.length < images.length * per) input = new Float32Array(images.length * per);
        images.forEach((rgb, j) => {
          if (rgb.length !== per) throw new Error(`classifyRgb: image ${j} has ${rgb.length} values, expected ${h}×${w}×3`);
          for (let i = 0, o = j * per; i < per; i += 3, o += 3) {
            input[o] = rgb[i]! * scale[0]! - offset[0]!;
            input[o + 1] = rgb[i + 1]! * scale[1]! - offset[1]!;
            input[o + 2] = rgb[i + 2]! * scale[2]! - offset[2]!;
          }
        });
        return run(input, images.length);
      },
      release: () => s.release(),
    },
  };
}

/** Row-wise softmax of n×k logits. */
function softmaxRows(data: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < k; c++) m = Math.max(m, data[i * k + c]!);
    let z = 0;
    for (let c = 0; c < k; c++) z += out[i * k + c] = Math.exp(data[i * k + c]! - m);
    for (let c = 0; c < k; c++) out[i * k + c] /= z;
  }
  return out;
}
