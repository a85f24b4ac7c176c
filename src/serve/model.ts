/**
 * One served bundle: graft's Classifier (src/recipes/predict.ts) behind a dynamic batcher. Input
 * is preprocessed float32 NHWC (what the exported ONNX takes); output softmax probabilities.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Classifier, type Prediction } from '../recipes/predict.js';
import { headProbabilities } from '../recipes/run.js';
import { evalBatchSize } from '../train/source.js';
import type { Preprocess } from '../data/decode.js';
import type { EngineName } from '../models/types.js';
import { DynamicBatcher, type BatchOptions } from './batcher.js';

export interface LoadModelOptions {
  engine?: EngineName;
  threads?: number;
  batch: BatchOptions;
}

/** What identifies one version of a bundle on disk: graft.json's creation stamp and mtime. */
export function bundleSignature(dir: string): string | undefined {
  try {
    const st = fs.statSync(path.join(dir, 'graft.json'));
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export class ServedModel {
  private readonly batcher: DynamicBatcher;
  readonly loadedAt = new Date().toISOString();

  private constructor(
    readonly name: string,
    readonly signature: string,
    private readonly clf: Classifier,
    batch: BatchOptions,
  ) {
    const [h, w] = clf.meta.preprocess.size;
    this.batcher = new DynamicBatcher((x, n) => this.forward(x, n), h * w * 3, clf.labels.length, batch);
  }

  static async load(name: string, dir: string, opts: LoadModelOptions): Promise<ServedModel> {
    const signature = bundleSignature(dir) ?? '';
    const clf = await Classifier.load(dir, { engine: opts.engine, threads: opts.threads });
    return new ServedModel(name, signature, clf, opts.batch);
  }

  get labels(): string[] {
    return this.clf.labels;
  }
  get preprocess(): Preprocess {
    return this.clf.meta.preprocess;
  }
  /** [H, W, 3] of one input image. */
  get inputShape(): [number, number, number] {
    const [h, w] = this.clf.meta.preprocess.size;
    return [h, w, 3];
  }
  get backboneName(): string {
    return this.clf.meta.backbone.name;
  }
  get metrics(): Record<string, unknown> {
    return this.clf.meta.metrics;
  }
  get created(): string {
    return this.clf.meta.created;
  }
  get stats() {
    return this.batcher.stats;
  }
  get batching(): BatchOptions {
    return this.batcher.opts;
  }

  /** n preprocessed images (n×H×W×3) → n×K probabilities, batched with concurrent requests. */
  infer(x: Float32Array, n: number): Promise<Float32Array> {
    return this.batcher.submit(x, n);
  }

  /** One engine call: backbone features (or the pixels themselves for whole-network bundles) → head. */
  private async forward(x: Float32Array, n: number): Promise<Float32Array> {
    const feats = await this.clf.backbone.extract(x, n);
    const dim = this.clf.backbone.dim;
    return headProbabilities(this.clf.head, feats, n, dim, evalBatchSize(dim));
  }

  /** Probabilities → graft's Prediction rows (the `graft predict` format). */
  predictions(probs: Float32Array, files: string[], topK: number): Prediction[] {
    const labels = this.labels;
    const k = labels.length;
    return files.map((file, i) => {
      const row = probs.subarray(i * k, (i + 1) * k);
      const order = [...row.keys()].sort((a, b) => row[b] - row[a]);
      return {
        file,
        label: labels[order[0]],
        probabilities: Object.fromEntries(labels.map((l, j) => [l, row[j]])),
        top: order.slice(0, Math.min(topK, k)).map((j) => ({ label: labels[j], probability: row[j] })),
      };
    });
  }

  /** After the queued requests are answered, free the engine sessions and tensors. */
  async dispose(): Promise<void> {
    await this.batcher.idle();
    await this.clf.dispose();
  }
}
