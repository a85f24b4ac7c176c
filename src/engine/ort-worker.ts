/**
 * An onnxruntime session in a worker thread, behind the same FrozenSession interface as OrtSession.
 * onnxruntime-node runs a batch synchronously on the calling thread; on the main thread that stalls
 * every decode completion, file read and store write for the whole batch. Here the main thread
 * only posts batches (copied: a batch is small next to its run) and receives features (transferred); runs are answered in order.
 * GRAFT_ORT_WORKER=0 falls back to the in-process session.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { OrtSession, type FrozenSession, type OrtSessionOptions } from './ort.js';

interface Reply {
  id: number;
  data?: Float32Array;
  dims?: number[];
  error?: string;
}

/**
 * The worker's entry: the compiled ort-thread.js, or (running from sources under tsx, whose loader
 * hooks a worker does not always inherit) a bootstrap that registers tsx and imports the .ts file.
 */
function spawnThread(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./ort-thread.js', import.meta.url), { workerData });
  const file = JSON.stringify(new URL('./ort-thread.ts', import.meta.url).href);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then((api) => { api.register(); return import(${file}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class OrtWorkerSession implements FrozenSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: { data: Float32Array; dims: number[] }) => void; reject: (e: Error) => void }>();
  private released = false;

  private constructor(private readonly worker: Worker, readonly inputName: string, readonly outputName: string) {
    worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) worker.unref(); // an idle session never keeps the process alive
      if (r.error !== undefined) p.reject(new Error(r.error));
      else p.resolve({ data: r.data!, dims: r.dims! });
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      if (!this.released) this.failAll(new Error(`the onnxruntime worker thread exited (code ${code})`));
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Start a worker holding a session of `onnx` (the bytes are copied to it once). */
  static async create(onnx: Uint8Array, opts: OrtSessionOptions = {}): Promise<OrtWorkerSession> {
    const threads = opts.threads ?? os.availableParallelism();
    const worker = spawnThread({ onnx, threads });
    const first = await new Promise<{ ready: boolean; error?: string; inputNames?: string[]; outputNames?: string[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!first.ready) {
      await worker.terminate();
      throw new Error(first.error ?? 'onnxruntime worker failed to start');
    }
    if (first.inputNames!.length !== 1 || first.outputNames!.length !== 1) {
      await worker.terminate();
      throw new Error(`OrtSession: expected a model with one input and one output, got ${first.inputNames!.length} inputs / ${first.outputNames!.length} outputs`);
    }
    worker.unref();
    return new OrtWorkerSession(worker, first.inputNames![0]!, first.outputNames![0]!);
  }

  /** Run one batch in the worker (`input` is copied to it: the caller may reuse its buffer). */
  run(input: Float32Array | Uint8Array, shape: number[]): Promise<{ data: Float32Array; dims: number[] }> {
    if (this.released) return Promise.reject(new Error('OrtSession.run: session was released'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref(); // keep the process alive while a batch runs
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, input, shape });
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.failAll(new Error('OrtSession.run: session was released'));
    await this.worker.terminate();
  }
}

/** A frozen-network session: in a worker thread (default) or in-process (GRAFT_ORT_WORKER=0, or `inProcess`). */
export async function createFrozenSession(onnx: Uint8Array, opts: OrtSessionOptions & { inProcess?: boolean } = {}): Promise<FrozenSession> {
  if (opts.inProcess || process.env.GRAFT_ORT_WORKER === '0') return OrtSession.create(onnx, opts);
  return OrtWorkerSession.create(onnx, opts);
}

