/**
 * `graft worker`: takes shard jobs off the queue and runs them through the same extraction path
 * as a local run (decode, view, engine — src/features/extract.ts, no cache of its own), so its
 * rows are the local rows bit for bit. A job for a backbone this worker cannot reproduce (another
 * weights hash, a missing file) is refused, never approximated; a file that does not decode is
 * reported in the result, and fails only itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MetricsTime, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Sample } from '../data/types.js';
import { adoptAudio } from '../audio/adopt.js';
import { contentHash, extractFeatures, storeIdFor } from '../features/extract.js';
import { openBackboneSpec } from '../models/backbone.js';
import { bundleSpec } from '../models/bundle-backbone.js';
import { resolveBackbone } from '../models/resolve.js';
import type { Backbone } from '../models/types.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { DEFAULT_QUEUE, PROTOCOL, REFUSED, encodeRows, redisConnection, type BackboneRef, type ShardJob, type ShardResult } from './protocol.js';

export interface WorkerOptions {
  redis: string;
  queue?: string;
  /** Jobs processed at once (each runs the engine with `threads` threads). */
  concurrency?: number;
  threads?: number;
  /** Where `path` items are read from (the coordinator's --shared-root, as mounted here). */
  sharedRoot?: string;
  /** How long a job's lock lasts without renewal; a dead worker's job is retried after it (BullMQ stalled-job recovery). */
  lockMs?: number;
  reporter?: Reporter;
}

export interface RunningWorker {
  readonly name: string;
  /** Jobs completed so far. */
  readonly done: number;
  /** Finish (or release) the active job, then disconnect. */
  close(): Promise<void>;
}

/** Backbones kept open between jobs, by reference (a sound model's front-end is part of it). */
class BackboneCache {
  private open = new Map<string, Promise<Backbone>>();
  constructor(private threads?: number) {}

  get(r: BackboneRef): Promise<Backbone> {
    const k = JSON.stringify(r);
    let b = this.open.get(k);
    if (!b) {
      b = (async () => {
        const spec = r.ref.startsWith('bundle:') ? await bundleSpec(r.ref.slice('bundle:'.length)) : await resolveBackbone(r.ref);
        return adoptAudio(await openBackboneSpec(spec, { layer: r.layer, weights: r.weights, threads: this.threads }), r.audio);
      })();
      b.catch(() => this.open.delete(k));
      this.open.set(k, b);
    }
    return b;
  }

  async close(): Promise<void> {
    for (const b of this.open.values()) await b.then((x) => x.dispose(), () => undefined);
    this.open.clear();
  }
}

function itemSample(it: ShardJob['items'][number], sharedRoot: string | undefined): Sample {
  let bytes: Promise<Buffer> | undefined;
  const read = async (): Promise<Buffer> => {
    if (it.bytes !== undefined) return Buffer.from(it.bytes, 'base64');
    if (it.path === undefined) throw new Error('the job carries neither bytes nor a path');
    if (!sharedRoot) throw new Error(`the job names ${it.path} under a shared root; start this worker with --shared-root DIR`);
    const file = path.resolve(sharedRoot, it.path);
    if (path.relative(sharedRoot, file).startsWith('..')) throw new Error(`${it.path} leaves the shared root`);
    return fs.promises.readFile(file);
  };
  return { id: it.id, label: 0, split: 'train', kind: it.kind, raw: it.raw, load: () => (bytes ??= read()) };
}

/** Run one shard: the rows of every item whose bytes match its key, and why each other failed. */
async function runShard(job: Job<ShardJob>, cache: BackboneCache, o: WorkerOptions, name: string): Promise<ShardResult> {
  const t0 = performance.now();
  const d = job.data;
  if (d.protocol !== PROTOCOL) throw new UnrecoverableError(`${REFUSED} job protocol ${d.protocol}, this worker speaks ${PROTOCOL} (upgrade graft on one side)`);
  let backbone: Backbone;
  try {
    backbone = await cache.get(d.backbone);
  } catch (e) {
    throw new UnrecoverableError(`${REFUSED} ${name} cannot open backbone ${d.backbone.ref} (${d.backbone.layer}): ${(e as Error).message}`);
  }
  const here = storeIdFor(backbone, d.view);
  if (here !== d.storeId) {
    throw new UnrecoverableError(`${REFUSED} ${name} would compute other features for ${d.backbone.ref} (weights ${backbone.weightsHash.slice(0, 12)}…: store id ${here.slice(0, 12)}… here, ${d.storeId.slice(0, 12)}… asked)`);
  }
  const skipped: ShardResult['skipped'] = [];
  const index = new Map<Sample, number>();
  const samples: Sample[] = [];
  for (let k = 0; k < d.items.length; k++) {
    const s = itemSample(d.items[k], o.sharedRoot);
    try {
      const key = await contentHash(s);
      if (key !== d.items[k].key) {
        skipped.push({ item: k, reason: 'its bytes here differ from the coordinator\'s (changed on the shared root?)' });
        continue;
      }
    } catch (e) {
      skipped.push({ item: k, reason: (e as Error).message });
      continue;
    }
    index.set(s, k);
    samples.push(s);
  }
  let last = 0;
  const progress: Reporter = {
    ...silentReporter,
    progress: () => {
      let n = 0;
      return {
        tick: (m = 1) => {
          n += m;
          if (performance.now() - last > 250) {
            last = performance.now();
            void job.updateProgress(n + skipped.length).catch(() => undefined);
          }
        },
        done: () => undefined,
      };
    },
  };
  const m = await extractFeatures(samples, backbone, { store: null, remote: null, view: d.view, reporter: progress });
  const byId = new Map(samples.map((s) => [s.id, index.get(s)!]));
  for (const s of m.skipped) skipped.push({ item: byId.get(s.file) ?? -1, reason: s.reason });
  const ok = m.samples.map((s) => index.get(s)!);
  return { protocol: PROTOCOL, dim: m.dim, ok, rows: encodeRows(m.data), skipped, worker: name, seconds: (performance.now() - t0) / 1000 };
}

/** Start a worker on the queue; it runs until close(). */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const reporter = o.reporter ?? silentReporter;
  const name = `${os.hostname()}/${process.pid}`;
  const cache = new BackboneCache(o.threads);
  let done = 0;
  const lockMs = o.lockMs ?? 30_000;
  const worker = new Worker<ShardJob, ShardResult>(o.queue ?? DEFAULT_QUEUE, (job) => runShard(job, cache, o, name), {
    connection: redisConnection(o.redis),
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
    maxStalledCount: 5,
    name,
    metrics: { maxDataPoints: MetricsTime.ONE_HOUR * 24 },
    autorun: false,
  });
  worker.on('active', (job) => reporter.info(`shard ${job.id}: started (${job.data.items.length} images, try ${job.attemptsMade + 1}${job.stalledCounter ? `, after ${job.stalledCounter} stalled worker(s)` : ''})`));
  worker.on('completed', (job, res) => {
    done++;
    reporter.info(`shard ${job.id}: ${res.ok.length} rows, ${res.skipped.length} skipped, ${res.seconds.toFixed(1)} s`);
  });
  worker.on('failed', (job, err) => reporter.warn(`shard ${job?.id}: ${err.message}`));
  worker.on('error', (err) => reporter.warn(`queue: ${err.message}`));
  await worker.waitUntilReady();
  void worker.run();
  return {
    name,
    get done() {
      return done;
    },
    async close() {
      await worker.close();
      await cache.close();
    },
  };
}
