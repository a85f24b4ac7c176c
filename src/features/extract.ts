/**
 * Streams samples through a backbone into the feature store: cached rows are read back, the rest
 * are decoded (sharp, on libuv's thread pool) one batch ahead while the engine runs the current
 * batch, so decoding and inference overlap on a 2-core machine. Never holds more than two batches
 * of decoded pixels. Files that fail to decode are skipped and reported, not fatal.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Backbone } from '../models/types.js';
import type { Sample, Skipped } from '../data/types.js';
import { decodeToTensorData, preprocessKey } from '../data/decode.js';
import { checkView } from '../data/augment.js';
import { FeatureStore, extractorId } from './store.js';
import { graftHome } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';

export interface ExtractOptions {
  batchSize?: number;
  /** Feature store to read/write; `null` disables caching. Default: the store under GRAFT_HOME. */
  store?: FeatureStore | null;
  /** Augmented view (src/data/augment.ts; part of the cache key); 'none' = the plain image. */
  view?: string;
  reporter?: Reporter;
  /** Throw on the first undecodable file instead of skipping it. */
  strict?: boolean;
}

export interface FeatureMatrix {
  /** Row-major n×dim. Row i belongs to `samples[i]`. */
  data: Float32Array;
  n: number;
  dim: number;
  samples: Sample[];
  skipped: Skipped[];
  computed: number;
  cached: number;
}

/** Identity of a backbone+layer+preprocessing+view combination in the feature store. */
export function storeIdFor(backbone: Backbone, view = 'none'): string {
  return extractorId({
    backbone: backbone.spec.name,
    weights: backbone.weightsHash,
    layer: backbone.layer,
    preprocess: preprocessKey(backbone.spec.preprocess),
    view,
  });
}

/** Open the default on-disk store for a backbone. */
export function openStoreFor(backbone: Backbone, view = 'none', root = path.join(graftHome(), 'features')): FeatureStore {
  return FeatureStore.open(root, storeIdFor(backbone, view), backbone.dim);
}

export async function contentHash(sample: Sample): Promise<string> {
  const bytes = await sample.load();
  const h = createHash('sha256');
  if (sample.kind === 'raw' && sample.raw) h.update(`raw:${sample.raw.width}x${sample.raw.height}x${sample.raw.channels}:`);
  return h.update(bytes).digest('hex');
}

interface Pending {
  idx: number[];
  keys: string[];
}

/** Features for every sample (cached or computed), in input order minus skipped files. */
export async function extractFeatures(samples: Sample[], backbone: Backbone, opts: ExtractOptions = {}): Promise<FeatureMatrix> {
  const batchSize = opts.batchSize ?? 16;
  const view = checkView(opts.view);
  const reporter = opts.reporter ?? silentReporter;
  const ownStore = opts.store === undefined;
  const store = ownStore ? openStoreFor(backbone, opts.view) : opts.store;
  const dim = backbone.dim;
  // One preallocated matrix (no per-row copies kept): filled in place, compacted at the end.
  const data = new Float32Array(samples.length * dim);
  const have = new Uint8Array(samples.length);
  const skipped: Skipped[] = [];
  const keys: string[] = new Array(samples.length);
  const todo: number[] = [];
  let cached = 0;
  let computed = 0;
  const bar = reporter.progress('features', samples.length);
  try {
    // 1. Hash contents and look them up.
    for (let i = 0; i < samples.length; i++) {
      try {
        keys[i] = await contentHash(samples[i]);
      } catch (e) {
        if (opts.strict) throw e;
        skipped.push({ file: samples[i].id, reason: (e as Error).message });
        continue;
      }
      if (store?.getInto(keys[i], data, i * dim)) {
        have[i] = 1;
        cached++;
        bar.tick();
      } else todo.push(i);
    }
    // 2. Decode one batch ahead of inference.
    const [h, w] = backbone.spec.preprocess.size;
    const per = h * w * 3;
    const decodeBatch = async (idx: number[]): Promise<{ buf: Float32Array; ok: number[] }> => {
      const parts = await Promise.all(
        idx.map((i) =>
          decodeToTensorData(samples[i], backbone.spec.preprocess, view).then(
            (d) => d,
            (e: Error) => {
              if (opts.strict) throw e;
              skipped.push({ file: samples[i].id, reason: e.message });
              return undefined;
            },
          ),
        ),
      );
      const ok = idx.filter((_, j) => parts[j] !== undefined);
      const buf = new Float32Array(ok.length * per);
      let k = 0;
      for (const p of parts) if (p) buf.set(p, per * k++);
      return { buf, ok };
    };
    const batches: number[][] = [];
    for (let s = 0; s < todo.length; s += batchSize) batches.push(todo.slice(s, s + batchSize));
    let next = batches.length ? decodeBatch(batches[0]) : undefined;
    for (let b = 0; b < batches.length; b++) {
      const { buf, ok } = await next!;
      next = b + 1 < batches.length ? decodeBatch(batches[b + 1]) : undefined;
      if (ok.length) {
        const feats = await backbone.extract(buf, ok.length);
        ok.forEach((i, j) => {
          const row = feats.subarray(j * dim, (j + 1) * dim);
          data.set(row, i * dim);
          have[i] = 1;
          store?.put(keys[i], row);
        });
        computed += ok.length;
      }
      bar.tick(batches[b].length);
    }
  } finally {
    bar.done();
    if (ownStore) store?.close();
  }
  const used: Sample[] = [];
  for (let i = 0; i < samples.length; i++) {
    if (!have[i]) continue;
    if (used.length !== i) data.copyWithin(used.length * dim, i * dim, (i + 1) * dim);
    used.push(samples[i]);
  }
  const out = used.length === samples.length ? data : data.slice(0, used.length * dim);
  return { data: out, n: used.length, dim, samples: used, skipped, computed, cached };
}
