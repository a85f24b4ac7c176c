/**
 * A loaded bundle ready to classify: the bundle's head on top of its backbone, with the backbone's
 * weights checked against the hash the bundle was trained with.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadBundle, type BundleMeta } from '../bundle/bundle.js';
import { openBackboneSpec } from '../models/backbone.js';
import { bundleBaseSpec } from '../models/bundle-backbone.js';
import type { Backbone, EngineName } from '../models/types.js';
import type { Sample, Skipped } from '../data/types.js';
import { extractFeatures } from '../features/extract.js';
import { decodeToRgb } from '../data/decode.js';
import { checkView } from '../data/augment.js';
import { headProbabilities } from './run.js';
import { inputBackbone, INPUT_CUT } from '../models/tail.js';
import { evalBatchSize } from '../train/source.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { adoptAudio } from '../audio/adopt.js';
import { soundWindows } from '../audio/windows.js';
import { wholeNetworkSession, type WholeNetworkSession } from './whole-network-ort.js';

export interface Prediction {
  file: string;
  label: string;
  /** Probability of every label. */
  probabilities: Record<string, number>;
  /** The k most likely labels, best first. */
  top: { label: string; probability: number }[];
  /** A long sound: the number of clip-length windows whose probabilities were averaged (src/audio/windows.ts). */
  windows?: number;
}

export class Classifier {
  private constructor(
    readonly dir: string,
    readonly meta: BundleMeta,
    readonly head: tfl.LayersModel,
    readonly backbone: Backbone,
    /** A whole-network bundle running in ORT (else its head runs in tfjs). */
    private readonly ort?: WholeNetworkSession,
  ) {}

  /** Where a whole-network bundle's network runs: 'ort' (converted and checked at load) or 'tfjs'. */
  get networkEngine(): EngineName {
    return this.ort ? 'ort' : 'tfjs';
  }

  static async load(dir: string, opts: { engine?: EngineName; threads?: number } = {}): Promise<Classifier> {
    const { meta, head } = await loadBundle(dir);
    if (isWholeNetwork(meta)) {
      // The bundle holds every layer: only the backbone's preprocessing is needed, not its weights.
      // Frozen at prediction time, the network runs in ORT unless --engine tfjs (or it cannot).
      try {
        const base = await bundleBaseSpec(dir, meta);
        const ort = opts.engine === 'tfjs' ? undefined : (await wholeNetworkSession(dir, meta, base, opts.threads)).session;
        return new Classifier(dir, meta, head, inputBackbone({ ...base, preprocess: meta.preprocess }, meta.backbone.weightsHash, meta.backbone.layer), ort);
      } catch (e) {
        head.dispose();
        throw new Error(`${dir}: cannot open its backbone ${meta.backbone.name}: ${(e as Error).message}`);
      }
    }
    let backbone: Backbone;
    try {
      backbone = await openBackboneSpec(await bundleBaseSpec(dir, meta), { engine: opts.engine, threads: opts.threads, layer: meta.backbone.layer, weights: meta.backbone.weights });
    } catch (e) {
      head.dispose();
      throw new Error(`${dir}: cannot open its backbone ${meta.backbone.name}: ${(e as Error).message}`);
    }
    if (backbone.weightsHash !== meta.backbone.weightsHash) {
      head.dispose();
      await backbone.dispose();
      throw new Error(
        `${dir}: trained on ${meta.backbone.name} weights ${meta.backbone.weightsHash.slice(0, 12)}, but the installed weights are ${backbone.weightsHash.slice(0, 12)}; retrain or install the matching weights`,
      );
    }
    return new Classifier(dir, meta, head, adoptAudio(backbone, meta.preprocess.audio));
  }

  get labels(): string[] {
    return this.meta.labels;
  }

  /**
   * Probabilities (n×k) for samples, plus which samples were used and which were skipped. `view`
   * classifies an augmented view of each image (src/data/augment.ts) instead of the plain one.
   */
  async probabilities(samples: Sample[], opts: { reporter?: Reporter; strict?: boolean; cache?: boolean; view?: string } = {}): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[] }> {
    if (isWholeNetwork(this.meta)) return this.wholeNetworkProbabilities(samples, opts);
    const feats = await extractFeatures(samples, this.backbone, { reporter: opts.reporter ?? silentReporter, strict: opts.strict, view: opts.view, ...(opts.cache === false ? { store: null } : {}) });
    return { probs: headProbabilities(this.head, feats.data, feats.n, feats.dim), samples: feats.samples, skipped: feats.skipped };
  }

  /**
   * A whole-network bundle reads pixels: images are decoded and classified a batch at a time (no
   * feature cache, memory bounded by one batch).
   */
  private async wholeNetworkProbabilities(samples: Sample[], opts: { reporter?: Reporter; strict?: boolean; view?: string }): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[] }> {
    const batch = evalBatchSize(this.backbone.dim);
    // One batch or less in ORT (batch 1 serving): decode and run directly, without the batch
    // pipeline's hashing, progress and decode-ahead machinery (nothing to overlap with one batch).
    if (this.ort && samples.length <= batch) return this.ortBatch(this.ort, samples, opts);
    const parts: Float32Array[] = [];
    const used: Sample[] = [];
    const skipped: Skipped[] = [];
    const bar = (opts.reporter ?? silentReporter).progress('images', samples.length);
    for (let s = 0; s < samples.length; s += batch) {
      const px = await extractFeatures(samples.slice(s, s + batch), this.backbone, { store: null, strict: opts.strict, view: opts.view });
      parts.push(this.ort ? await this.ort.probabilities(px.data, px.n) : headProbabilities(this.head, px.data, px.n, px.dim, batch));
      used.push(...px.samples);
      skipped.push(...px.skipped);
      bar.tick(Math.min(batch, samples.length - s));
    }
    bar.done();
    const probs = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((off, p) => (probs.set(p, off), off + p.length), 0);
    return { probs, samples: used, skipped };
  }

  private async ortBatch(ort: WholeNetworkSession, samples: Sample[], opts: { strict?: boolean; view?: string }): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[] }> {
    const view = checkView(opts.view);
    const decoded = await Promise.allSettled(samples.map((s) => decodeToRgb(s, this.backbone.spec.preprocess, view)));
    const used: Sample[] = [];
    const images: Uint8Array[] = [];
    const skipped: Skipped[] = [];
    decoded.forEach((d, i) => {
      if (d.status === 'fulfilled') (used.push(samples[i]!), images.push(d.value));
      else if (opts.strict) throw d.reason;
      else skipped.push({ file: samples[i]!.id, reason: (d.reason as Error).message });
    });
    return { probs: images.length ? await ort.classifyRgb(images) : new Float32Array(0), samples: used, skipped };
  }

  /**
   * Probabilities per sample, as `probabilities`; a sound model reads a long sound (> 1.5 clips)
   * as sliding clip-length windows and averages their probabilities (`windows`: how many, per
   * sample that was windowed). Images and short sounds are one row each.
   */
  async windowedProbabilities(samples: Sample[], opts: { reporter?: Reporter; strict?: boolean; cache?: boolean } = {}): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[]; windows: Map<Sample, number> }> {
    const fe = this.backbone.spec.preprocess.audio;
    const windows = new Map<Sample, number>();
    if (!fe) return { ...(await this.probabilities(samples, opts)), windows };
    const parent = new Map<Sample, Sample>();
    const expanded: Sample[] = [];
    for (const s of samples) {
      const parts = await s.load().then((b) => soundWindows(b, fe), () => undefined);
      if (!parts) {
        parent.set(s, s);
        expanded.push(s);
        continue;
      }
      windows.set(s, parts.length);
      for (const load of parts) {
        const w: Sample = { id: s.id, label: s.label, split: s.split, kind: 'encoded', load };
        parent.set(w, s);
        expanded.push(w);
      }
    }
    const r = await this.probabilities(expanded, opts);
    const k = this.labels.length;
    // Mean over each sample's windows (one row for a short sound), samples in input order.
    const sums = new Map<Sample, Float64Array>();
    r.samples.forEach((w, row) => {
      const s = parent.get(w)!;
      const sum = sums.get(s) ?? new Float64Array(k);
      for (let j = 0; j < k; j++) sum[j] += r.probs[row * k + j] / (windows.get(s) ?? 1);
      sums.set(s, sum);
    });
    const used = samples.filter((s) => sums.has(s));
    const probs = new Float32Array(used.length * k);
    used.forEach((s, i) => probs.set(sums.get(s)!, i * k));
    const seen = new Set<string>();
    const skipped = r.skipped.filter((x) => (seen.has(x.file) ? false : (seen.add(x.file), true))); // a bad long file once, not once per window
    return { probs, samples: used, skipped, windows };
  }

  /**
   * Classify image (or sound) files; unreadable files are returned in `skipped`. A sound model
   * reads a long sound as sliding windows and averages their probabilities.
   */
  async predictFiles(files: string[], opts: { topK?: number; reporter?: Reporter; strict?: boolean } = {}): Promise<{ predictions: Prediction[]; skipped: Skipped[] }> {
    const samples: Sample[] = files.map((f) => ({ id: f, label: 0, split: 'test', kind: 'encoded', load: () => readFile(path.resolve(f)) }));
    const { probs, samples: used, skipped, windows } = await this.windowedProbabilities(samples, { ...opts, cache: false });
    const k = this.labels.length;
    const topK = Math.min(opts.topK ?? 5, k);
    const predictions = used.map((s, i) => {
      const row = probs.subarray(i * k, (i + 1) * k);
      const order = [...row.keys()].sort((a, b) => row[b] - row[a]);
      const n = windows.get(s) ?? 1;
      return {
        file: s.id,
        label: this.labels[order[0]],
        probabilities: Object.fromEntries(this.labels.map((l, j) => [l, row[j]])),
        top: order.slice(0, topK).map((j) => ({ label: this.labels[j], probability: row[j] })),
        ...(n > 1 ? { windows: n } : {}),
      };
    });
    return { predictions, skipped };
  }

  async dispose(): Promise<void> {
    await this.ort?.release();
    this.head.dispose();
    await this.backbone.dispose();
  }
}

/** A fine-tune of the whole network (cut at its input): the bundle's model maps pixels to logits. */
function isWholeNetwork(meta: BundleMeta): boolean {
  return meta.head.kind === 'tail' && meta.head.cut === INPUT_CUT;
}
