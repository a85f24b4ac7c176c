/**
 * graft's WebAssembly SIMD kernels (resample.wat, fft.wat, db.wat, image.wat, compiled into
 * kernels.wasm.ts by `npm run build:wasm`): one module instance per process, instantiated on first use, with a small
 * memory manager. Residents (e.g. a resampler's polyphase table) stay in memory under a key until
 * space runs short; scratch space for one call starts after them. Every call is synchronous, so
 * callers lay out their own scratch and read results before the next call. Memory only grows, and a
 * growth detaches earlier views: take views (f32/f64) after `scratch`. `release()` after a call
 * frees a module that grew large.
 */
import { KERNELS_WASM } from './kernels.wasm.js';

interface Exports {
  memory: WebAssembly.Memory;
  polyphase(x: number, h: number, tp: number, L: number, M: number, K: number, y: number, n: number): void;
  stft_mel(descriptor: number): void;
  max_f32(p: number, n4: number): number;
  db(p: number, n2: number, k: number, amin: number, floor: number): void;
  grey_image(spec: number, sh: number, sw: number, floor: number, top: number, h: number, w: number, ax: number, ay: number, grey: number, rows: number, out: number): void;
}

const PAGE = 65536;
const MAX_RESIDENT = 8 << 20;
const KEEP_BYTES = 32 << 20;

export class Kernels {
  readonly fn: Exports;
  private readonly residents = new Map<string, number>();
  private top = 0;

  constructor() {
    const mod = new WebAssembly.Module(Buffer.from(KERNELS_WASM, 'base64'));
    this.fn = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
  }

  /** Byte offset of a resident block of `bytes` under `key`, written by `fill` (given its offset) the first time. */
  resident(key: string, bytes: number, fill: (offset: number) => void): number {
    const at = this.residents.get(key);
    if (at !== undefined) return at;
    if (this.top + bytes > MAX_RESIDENT) {
      this.residents.clear();
      this.top = 0;
    }
    const offset = this.top;
    this.grow(offset + bytes);
    this.top = align(offset + bytes);
    this.residents.set(key, offset);
    fill(offset);
    return offset;
  }

  /** Byte offset of `bytes` of scratch after the residents (valid until the next call of resident/scratch). */
  scratch(bytes: number): number {
    this.grow(this.top + bytes);
    return this.top;
  }

  f32(offset: number, length: number): Float32Array {
    return new Float32Array(this.fn.memory.buffer, offset, length);
  }

  f64(offset: number, length: number): Float64Array {
    return new Float64Array(this.fn.memory.buffer, offset, length);
  }

  private grow(bytes: number): void {
    const have = this.fn.memory.buffer.byteLength;
    if (bytes > have) this.fn.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
}

/** 16-byte alignment (v128). */
export const align = (bytes: number): number => (bytes + 15) & ~15;

let instance: Kernels | undefined;

/** The process's kernels (WebAssembly SIMD is in every Node ≥ 16.4). */
export function kernels(): Kernels {
  if (!instance) {
    try {
      instance = new Kernels();
    } catch (e) {
      throw new Error(`graft's WebAssembly SIMD audio kernels do not load in this runtime (${(e as Error).message})`, { cause: e });
    }
  }
  return instance;
}

/**
 * Called after each kernel call, once its results are copied out: a module whose memory grew past
 * 32 MiB (a long sound) is dropped, so the process does not keep that memory (wasm memory never
 * shrinks); the next call starts a fresh instance and rebuilds its residents.
 */
export function release(): void {
  if (instance && instance.fn.memory.buffer.byteLength > KEEP_BYTES) instance = undefined;
}
