/**
 * The coordinator side of `--redis`: the feature store's misses become BullMQ shard jobs, a
 * bounded window of them in Redis at a time (Redis memory stays flat whatever the data size),
 * and their rows come back into the caller's store (src/features/extract.ts writes them).
 *
 * Jobs are named by their content (store id + the shard's keys), so a rerun after a crash — or
 * after Redis lost its data — re-adds exactly the shards still missing, and picks up a result a
 * previous run left behind. A job that vanished from Redis is added again; a worker that died
 * holding one loses its lock and BullMQ hands the job to another (stalled-job recovery).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import type { RemoteExtractor, RemoteRequest } from '../features/remote.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { DEFAULT_QUEUE, PROTOCOL, REFUSED, backboneRef, decodeRows, redisConnection, type ShardItem, type ShardJob, type ShardResult } from './protocol.js';

export interface CoordinatorOptions {
  redis: string;
  queue?: string;
  /** Images per job (default 256). */
  shardSize?: number;
  /** Cap on the encoded bytes one job carries (default 16 MiB): a shard closes early at it. */
  maxJobBytes?: number;
  /** Send paths relative to this root (mounted by every worker) instead of bytes. */
  sharedRoot?: string;
  /** Shards in Redis at once (default 32). */
  window?: number;
  /** Tries per shard before it fails the run (default 5). */
  attempts?: number;
  /** Give up when Redis has not answered for this long (default 30 s). */
  lostAfterMs?: number;
  pollMs?: number;
  /** The --weights the backbone was opened with (workers reopen it the same way). */
  weights?: string;
  reporter?: Reporter;
}

interface Shard {
  id: string;
  items: number[];
  /** Added (or found) during this run. */
  added: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class QueueCoordinator implements RemoteExtractor {
  readonly where: string;

  /** Workers' progress within active shards, by job id (QueueEvents; the polling below does not depend on it). */
  private progress = new Map<string, number>();

  private constructor(private queue: Queue<ShardJob, ShardResult>, private events: QueueEvents, private o: CoordinatorOptions) {
    this.where = `${o.redis} (queue ${queue.name})`;
    events.on('progress', ({ jobId, data }) => void (typeof data === 'number' && this.progress.set(jobId, data)));
    events.on('error', () => undefined);
  }

  /** Connect, failing with a clear message when Redis does not answer. */
  static async connect(o: CoordinatorOptions): Promise<QueueCoordinator> {
    const queue = new Queue<ShardJob, ShardResult>(o.queue ?? DEFAULT_QUEUE, { connection: { ...redisConnection(o.redis), retryStrategy: (n: number) => (n > 3 ? null : 200 * n) } as never });
    queue.on('error', () => undefined); // connection errors surface through the calls below
    try {
      await withTimeout(queue.waitUntilReady(), 5000);
      await withTimeout(queue.getJobCounts(), 5000);
    } catch (e) {
      await queue.close().catch(() => undefined);
      throw new Error(`cannot reach Redis at ${o.redis}: ${(e as Error).message}; start one (redis-server --port 6379) or fix --redis`);
    }
    await queue.close();
    const name = o.queue ?? DEFAULT_QUEUE;
    const connection = redisConnection(o.redis);
    return new QueueCoordinator(new Queue<ShardJob, ShardResult>(name, { connection }), new QueueEvents(name, { connection }), o);
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
  }

  /** Item indices grouped into shards by count and bytes, each named by its content. */
  private async plan(req: RemoteRequest): Promise<Shard[]> {
    const size = this.o.shardSize ?? 256;
    const cap = this.o.maxJobBytes ?? 16 << 20;
    const shards: Shard[] = [];
    let cur: number[] = [];
    let bytes = 0;
    const close = () => {
      if (!cur.length) return;
      const h = createHash('sha1').update(req.storeId);
      for (const i of cur) h.update(req.items[i].key);
      shards.push({ id: `${req.storeId.slice(0, 12)}-${h.digest('hex').slice(0, 24)}`, items: cur, added: false });
      cur = [];
      bytes = 0;
    };
    for (let i = 0; i < req.items.length; i++) {
      const n = this.o.sharedRoot ? 256 : Math.ceil(((await req.items[i].sample.load()).byteLength * 4) / 3);
      if (cur.length && (cur.length >= size || bytes + n > cap)) close();
      cur.push(i);
      bytes += n;
    }
    close();
    return shards;
  }

  private async jobData(req: RemoteRequest, shard: Shard): Promise<ShardJob> {
    const root = this.o.sharedRoot;
    const items: ShardItem[] = [];
    for (const i of shard.items) {
      const { sample, key } = req.items[i];
      const it: ShardItem = { id: sample.id, key, kind: sample.kind, ...(sample.raw ? { raw: sample.raw } : {}) };
      if (root) {
        const file = sample.file;
        if (!file) throw new Error(`--shared-root needs images read from files (${sample.id} is not one)`);
        const rel = path.relative(root, file);
        if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${file}: not under --shared-root ${root}`);
        it.path = rel;
      } else it.bytes = (await sample.load()).toString('base64');
      items.push(it);
    }
    return { protocol: PROTOCOL, storeId: req.storeId, backbone: backboneRef(req.backbone, this.o.weights), view: req.view, items };
  }

  async extract(req: RemoteRequest): Promise<void> {
    const reporter = this.o.reporter ?? silentReporter;
    const shards = await this.plan(req);
    const window = this.o.window ?? 32;
    const attempts = this.o.attempts ?? 5;
    const lostAfter = this.o.lostAfterMs ?? 30_000;
    const pollMs = this.o.pollMs ?? 200;
    const open: Shard[] = [];
    let next = 0;
    let finished = 0;
    let lastOk = Date.now();
    reporter.info(`queue: ${req.items.length} images in ${shards.length} shards → ${this.where}`);
    const add = async (s: Shard) => {
      await this.queue.add('shard', await this.jobData(req, s), { jobId: s.id, attempts, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: false, removeOnFail: false });
      s.added = true;
    };
    while (next < shards.length || open.length) {
      try {
        while (open.length < window && next < shards.length) {
          const s = shards[next++];
          open.push(s);
          if ((await this.queue.getJobState(s.id)) === 'unknown') await add(s);
        }
        for (const s of [...open]) {
          const done = await this.poll(s, req, add, attempts);
          if (done) {
            open.splice(open.indexOf(s), 1);
            finished += s.items.length;
          }
        }
        lastOk = Date.now();
        req.onProgress?.(finished + open.reduce((a, s) => a + Math.min(s.items.length, this.progress.get(s.id) ?? 0), 0));
      } catch (e) {
        if ((e as Error).message.startsWith('shard ')) throw e;
        if (Date.now() - lastOk > lostAfter) {
          throw new Error(`lost Redis at ${this.o.redis} for ${Math.round(lostAfter / 1000)} s (${(e as Error).message}); the ${finished} features finished so far are in the store — rerun to continue`);
        }
      }
      if (open.length) await sleep(pollMs);
    }
  }

  /** One shard's state: true once its rows are delivered; re-adds it when Redis lost it. */
  private async poll(s: Shard, req: RemoteRequest, add: (s: Shard) => Promise<void>, attempts: number): Promise<boolean> {
    const state = await this.queue.getJobState(s.id);
    if (state === 'unknown') {
      await add(s); // Redis restarted without its data, or someone removed the job
      return false;
    }
    if (state !== 'completed' && state !== 'failed') return false;
    const job = await this.queue.getJob(s.id);
    if (!job) return false;
    if (state === 'failed') {
      const reason = job.failedReason ?? 'unknown failure';
      if (!s.added && !reason.startsWith(REFUSED)) {
        await job.retry('failed'); // left failed by an earlier run: give it fresh tries
        s.added = true;
        return false;
      }
      throw new Error(`shard ${s.id} failed${reason.startsWith(REFUSED) ? '' : ` after ${attempts} tries`}: ${reason.replace(REFUSED, '').trim()}`);
    }
    const r = job.returnvalue;
    if (!r || r.protocol !== PROTOCOL) throw new Error(`shard ${s.id}: a worker returned no result it could be read from (protocol ${r?.protocol})`);
    if (r.dim !== req.backbone.dim) throw new Error(`shard ${s.id}: rows of ${r.dim} values from ${r.worker}, expected ${req.backbone.dim}`);
    req.onRows(r.ok.map((k) => s.items[k]), decodeRows(r.rows, r.ok.length, r.dim));
    for (const sk of r.skipped) req.onSkipped(s.items[sk.item], sk.reason);
    const seen = new Set([...r.ok, ...r.skipped.map((x) => x.item)]);
    if (seen.size !== s.items.length) throw new Error(`shard ${s.id}: ${r.worker} answered for ${seen.size} of ${s.items.length} images`);
    await job.remove().catch(() => undefined);
    return true;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}
