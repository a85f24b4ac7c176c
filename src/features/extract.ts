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
import { decodeToRgb, decodeToTensorData, preprocessKey } from '../data/decode.js';
import { checkView, type AugmentView } from '../data/augment.js';
import { FeatureStore, extractorId } from './store.js';
import { remoteExtractor, type RemoteExtractor } from './remote.js';
import { graftHome } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { addStage, timed, timedAsync } from '../util/profile.js';

export interface ExtractOptions {
  batchSize?: number;
  /** Feature store to read/write; `null` disables caching. Default: the store under GRAFT_HOME. */
  store?: FeatureStore | null;
  /** Augmented view (src/data/augment.ts; part of the cache key); 'none' = the plain image. */
  view?: string;
  reporter?: Reporter;
  /** Throw on the first undecodable file instead of skipping it. */
  strict?: boolean;
  /**
   * Compute the store's misses with this executor (a job queue, src/scale/); `null` = the local
   * engine. Default: the process's executor (setRemoteExtractor) when caching, else local.
   */
  remote?: RemoteExtractor | null;
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

/** Batches decoded ahead of the engine, and batches queued on it at once. */
const AHEAD = 2;
const INFLIGHT = 2;

interface Decoded {
  buf: Float32Array | Uint8Array;
  ok: number[];
}

/**
 * Decode the samples `idx` into one batch: 8-bit RGB when the backbone normalises pixels itself
 * (a quarter of the bytes), else normalised float32. Undecodable files are skipped and reported.
 */
async function decodeBatch(samples: Sample[], idx: number[], backbone: Backbone, view: AugmentView, strict: boolean, skipped: Skipped[]): Promise<Decoded> {
  const pre = backbone.spec.preprocess;
  const pixels = !!backbone.pixelInput;
  const one = (i: number): Promise<Float32Array | Uint8Array> => (pixels ? decodeToRgb(samples[i], pre, view) : decodeToTensorData(samples[i], pre, view));
  const parts = await Promise.all(
    idx.map((i) =>
      timedAsync('decode', () => one(i)).catch((e: Error) => {
        if (strict) throw e;
        skipped.push({ file: samples[i].id, reason: e.message });
        return undefined;
      }),
    ),
  );
  const per = pre.size[0] * pre.size[1] * 3;
  const ok = idx.filter((_, j) => parts[j] !== undefined);
  const buf = pixels ? new Uint8Array(ok.length * per) : new Float32Array(ok.length * per);
  let k = 0;
  for (const p of parts) if (p) buf.set(p, per * k++);
  return { buf, ok };
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
        keys[i] = await timedAsync('hash', () => contentHash(samples[i]));
      } catch (e) {
        if (opts.strict) throw e;
        skipped.push({ file: samples[i].id, reason: (e as Error).message });
        continue;
      }
      if (timed('lookup', () => store?.getInto(keys[i], data, i * dim))) {
        have[i] = 1;
        cached++;
        bar.tick();
      } else todo.push(i);
    }
    // 2. Compute the misses: here, or on the remote executor (which fills the same rows and store).
    const remote = opts.remote !== undefined ? opts.remote : store === null ? null : remoteExtractor();
    const sink: RowSink = {
      row: (i, row) => {
        data.set(row, i * dim);
        have[i] = 1;
        computed++;
        timed('store', () => store?.put(keys[i], row));
      },
      skip: (i, reason) => {
        if (opts.strict) throw new Error(reason.includes(samples[i].id) ? reason : `${samples[i].id}: ${reason}`);
        skipped.push({ file: samples[i].id, reason });
      },
      tick: (n) => bar.tick(n),
    };
    if (remote && todo.length) await computeRemote(remote, samples, todo, keys, backbone, opts.view ?? 'none', sink);
    else await computeLocal(samples, todo, backbone, view, batchSize, !!opts.strict, skipped, sink);
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

/** Where computed rows, skips and progress go (the matrix, the store, the report, the bar). */
interface RowSink {
  row(i: number, row: Float32Array): void;
  skip(i: number, reason: string): void;
  tick(n: number): void;
}

/** The misses `todo` through the local engine, decoding one batch ahead. */
async function computeLocal(samples: Sample[], todo: number[], backbone: Backbone, view: AugmentView, batchSize: number, strict: boolean, skipped: Skipped[], sink: RowSink): Promise<void> {
  const dim = backbone.dim;
  // Decode ahead of inference, and keep the engine fed: `ahead` batches decoding, up to
  //    `inflight` batches queued on the engine (it runs in a worker thread, so the main thread
  //    stays free to collect decodes and write rows while a batch runs).
  const batches: number[][] = [];
  for (let s = 0; s < todo.length; s += batchSize) batches.push(todo.slice(s, s + batchSize));
  const decodes: Promise<Decoded>[] = [];
  const decodeFrom = (b: number) => {
    while (decodes.length < Math.min(batches.length, b + AHEAD)) decodes.push(decodeBatch(samples, batches[decodes.length], backbone, view, strict, skipped));
  };
  const running: Promise<void>[] = [];
  try {
    for (let b = 0; b < batches.length; b++) {
      decodeFrom(b);
      const { buf, ok } = await timedAsync('decode-wait', () => decodes[b]);
      delete decodes[b];
      decodeFrom(b + 1);
      if (ok.length) {
        const t = performance.now();
        running.push(
          backbone.extract(buf, ok.length).then((feats) => {
            addStage('engine', performance.now() - t);
            ok.forEach((i, j) => sink.row(i, feats.subarray(j * dim, (j + 1) * dim)));
            sink.tick(batches[b].length);
          }),
        );
      } else sink.tick(batches[b].length);
      if (running.length >= INFLIGHT) await timedAsync('engine-wait', () => running.shift()!);
    }
    await timedAsync('engine-wait', () => Promise.all(running));
  } finally {
    // On an error (strict mode, a failed run) let what is in flight settle before the store closes.
    await Promise.allSettled([...running, ...decodes.filter(Boolean)]);
  }
}

/** The misses `todo` through a remote executor: same rows, same keys, same skip reasons. */
async function computeRemote(remote: RemoteExtractor, samples: Sample[], todo: number[], keys: string[], backbone: Backbone, view: string, sink: RowSink): Promise<void> {
  const dim = backbone.dim;
  let reported = 0;
  await remote.extract({
    backbone,
    view,
    storeId: storeIdFor(backbone, view),
    items: todo.map((i) => ({ sample: samples[i], key: keys[i] })),
    onRows: (items, rows) => items.forEach((t, j) => sink.row(todo[t], rows.subarray(j * dim, (j + 1) * dim))),
    onSkipped: (t, reason) => sink.skip(todo[t], reason),
    onProgress: (done) => {
      if (done > reported) sink.tick(done - reported);
      reported = Math.max(reported, done);
    },
  });
  if (todo.length > reported) sink.tick(todo.length - reported);
}
