/**
 * The ORT engine: frozen layers run in onnxruntime-node (prebuilt CPU library), multi-threaded.
 * A thin wrapper over one InferenceSession with a single float32 input and output.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';

export interface OrtSessionOptions {
  /** Intra-op threads (default: os.availableParallelism()). */
  threads?: number;
}

/** What a frozen backbone runs on: an in-process session, or one in a worker thread (ort-worker.ts). */
export interface FrozenSession {
  readonly inputName: string;
  readonly outputName: string;
  /** One batch: float32 (or uint8 pixels, for a graph with a pixel input) in `shape` order. */
  run(input: Float32Array | Uint8Array, shape: number[]): Promise<{ data: Float32Array; dims: number[] }>;
  release(): Promise<void>;
}

/** ORT session options graft uses everywhere (intra-op threads, sequential, all graph optimisations). */
export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`OrtSession: threads must be a positive integer, got ${threads}`);
  return { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' };
}

/** The tensor of one batch (uint8 for pixel inputs), checking the element count. */
export function inputTensor(input: Float32Array | Uint8Array, shape: number[]): ort.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== input.length) throw new Error(`OrtSession.run: ${input.length} values for shape [${shape.join(',')}]`);
  return input instanceof Uint8Array ? new ort.Tensor('uint8', input, shape) : new ort.Tensor('float32', input, shape);
}

/** The float32 output of a run, or an error naming what came instead. */
export function outputOf(results: ort.InferenceSession.OnnxValueMapType, name: string): { data: Float32Array; dims: number[] } {
  const out = results[name];
  if (!out) throw new Error(`OrtSession.run: output '${name}' missing`);
  if (out.type !== 'float32') throw new Error(`OrtSession.run: output is ${out.type}, expected float32`);
  return { data: out.data as Float32Array, dims: [...out.dims] };
}

export class OrtSession implements FrozenSession {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** Graph input name. */
    readonly inputName: string,
    /** Graph output name. */
    readonly outputName: string,
  ) {}

  /** Create a session from serialized ONNX bytes or a path to a `.onnx` file. */
  static async create(onnx: Uint8Array | string, opts: OrtSessionOptions = {}): Promise<OrtSession> {
    const options = sessionOptions(opts.threads ?? os.availableParallelism());
    const session =
      typeof onnx === 'string' ? await ort.InferenceSession.create(onnx, options) : await ort.InferenceSession.create(onnx, options);
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      const desc = `${session.inputNames.length} inputs / ${session.outputNames.length} outputs`;
      await session.release();
      throw new Error(`OrtSession: expected a model with one input and one output, got ${desc}`);
    }
    return new OrtSession(session, session.inputNames[0]!, session.outputNames[0]!);
  }

  /** Run one batch: `input` is float32 (uint8 for a pixel-input graph) in `shape` order (e.g. NHWC [N,H,W,C]). */
  async run(input: Float32Array | Uint8Array, shape: number[]): Promise<{ data: Float32Array; dims: number[] }> {
    if (this.released) throw new Error('OrtSession.run: session was released');
    const results = await this.session.run({ [this.inputName]: inputTensor(input, shape) });
    return outputOf(results, this.outputName);
  }

  /** Free the native session (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
