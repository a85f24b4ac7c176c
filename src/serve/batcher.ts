/**
 * Dynamic batching (as Triton's and TorchServe's): requests for one model wait in a queue until
 * `maxBatch` images are there or the oldest has waited `maxDelayMs`, then go through the engine as
 * one call; results are split back per request. One engine call runs at a time per model; requests
 * arriving meanwhile form the next batch. maxBatch 1 = no batching (one call per request).
 */
export interface BatchOptions {
  maxBatch: number;
  maxDelayMs: number;
}

/** Runs n rows (row-major) through the model: n × outWidth. */
export type BatchRun = (x: Float32Array, n: number) => Promise<Float32Array>;

interface Pending {
  x: Float32Array;
  n: number;
  at: number;
  resolve: (y: Float32Array) => void;
  reject: (e: unknown) => void;
}

export interface BatchStats {
  requests: number;
  images: number;
  batches: number;
  largestBatch: number;
}

export class DynamicBatcher {
  private queue: Pending[] = [];
  private queued = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  readonly stats: BatchStats = { requests: 0, images: 0, batches: 0, largestBatch: 0 };

  constructor(
    private readonly run: BatchRun,
    private readonly inWidth: number,
    private readonly outWidth: number,
    readonly opts: BatchOptions,
  ) {
    if (!(opts.maxBatch >= 1) || !(opts.maxDelayMs >= 0)) throw new Error(`bad batching options ${JSON.stringify(opts)}`);
  }

  /** n rows of inWidth floats → n rows of outWidth floats. */
  submit(x: Float32Array, n: number): Promise<Float32Array> {
    if (x.length !== n * this.inWidth) return Promise.reject(new Error(`batcher: ${x.length} values for ${n} rows of ${this.inWidth}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ x, n, at: performance.now(), resolve, reject });
      this.queued += n;
      this.stats.requests++;
      this.schedule();
    });
  }

  /** Resolves when nothing is queued or running (used before disposing a replaced model). */
  idle(): Promise<void> {
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private schedule(): void {
    if (this.running || !this.queue.length) {
      if (!this.running && !this.queue.length) this.idleWaiters.splice(0).forEach((r) => r());
      return;
    }
    const waited = performance.now() - this.queue[0].at;
    if (this.queued >= this.opts.maxBatch || waited >= this.opts.maxDelayMs) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.opts.maxDelayMs - waited);
    }
  }

  /** Take whole requests up to maxBatch images (at least one request) and run them as one call. */
  private async flush(): Promise<void> {
    const take: Pending[] = [];
    let n = 0;
    while (this.queue.length && (take.length === 0 || n + this.queue[0].n <= this.opts.maxBatch)) {
      const p = this.queue.shift()!;
      take.push(p);
      n += p.n;
    }
    this.queued -= n;
    this.running = true;
    this.stats.batches++;
    this.stats.images += n;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, n);
    try {
      const x = take.length === 1 ? take[0].x : concat(take.map((p) => p.x), n * this.inWidth);
      const y = await this.run(x, n);
      if (y.length !== n * this.outWidth) throw new Error(`model returned ${y.length} values for ${n} rows of ${this.outWidth}`);
      let off = 0;
      for (const p of take) {
        p.resolve(y.slice(off, off + p.n * this.outWidth));
        off += p.n * this.outWidth;
      }
    } catch (e) {
      for (const p of take) p.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

function concat(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
