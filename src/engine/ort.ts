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

export class OrtSession {
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
    const threads = opts.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`OrtSession: threads must be a positive integer, got ${threads}`);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    };
    const session =
      typeof onnx === 'string' ? await ort.InferenceSession.create(onnx, options) : await ort.InferenceSession.create(onnx, options);
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      const desc = `${session.inputNames.length} inputs / ${session.outputNames.length} outputs`;
      await session.release();
      throw new Error(`OrtSession: expected a model with one input and one output, got ${desc}`);
    }
    return new OrtSession(session, session.inputNames[0]!, session.outputNames[0]!);
  }

  /** Run one batch: `input` is float32 in `shape` order (e.g. NHWC [N,H,W,C]). */
  async run(input: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: number[] }> {
    if (this.released) throw new Error('OrtSession.run: session was released');
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== input.length) throw new Error(`OrtSession.run: ${input.length} values for shape [${shape.join(',')}]`);
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, shape) };
    const results = await this.session.run(feeds);
    const out = results[this.outputName];
    if (!out) throw new Error(`OrtSession.run: output '${this.outputName}' missing`);
    if (out.type !== 'float32') throw new Error(`OrtSession.run: output is ${out.type}, expected float32`);
    return { data: out.data as Float32Array, dims: [...out.dims] };
  }

  /** Free the native session (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
