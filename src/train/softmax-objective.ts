/**
 * Softmax-regression objective and gradient, computed by onnxruntime (MLAS GEMMs on all cores).
 *
 * Full-batch L-BFGS on a linear head needs X·W and Xᵀ·G over the whole training set at every
 * evaluation. On tfjs-wasm those two GEMMs with a 10-column operand run at a few GFLOP/s and the
 * transposed product takes a slow path; the same graph in ORT is 10-50× faster. The graph is
 * written out explicitly (no autodiff; Xᵀ·G is a Gemm with transA, so X is held once): with per-sample weights w_i (normalised to sum 1) and
 * (label-smoothed) targets y_i,
 *   f  = -Σ_i w_i Σ_c y_ic log softmax(x_i W + b)_c + λ/2 ‖W‖²
 *   G  = w ⊙ (P - Y),   ∂f/∂W = Xᵀ G + λ W,   ∂f/∂b = Σ_i G_i
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { encodeModel, DataType, int64Tensor, type NodeProto } from '../convert/onnx-proto.js';
import type { Examples } from './trainer.js';

export interface SoftmaxObjectiveOptions {
  numClasses: number;
  labelSmoothing?: number;
  /** Per-class weights (loss weight of each example = weight of its class). */
  classWeights?: number[];
  threads?: number;
}

function objectiveGraph(): Uint8Array {
  const n = (opType: string, input: string[], output: string[], attribute: NodeProto['attribute'] = []): NodeProto => ({ opType, input, output, attribute });
  const nodes: NodeProto[] = [
    n('MatMul', ['X', 'W'], ['Z']),
    n('Add', ['Z', 'b'], ['logits']),
    n('LogSoftmax', ['logits'], ['LS'], [{ name: 'axis', value: { type: 'int', i: 1 } }]),
    n('Exp', ['LS'], ['P']),
    n('Mul', ['Yw', 'LS'], ['YLS']),
    n('ReduceSum', ['YLS'], ['ceNeg'], [{ name: 'keepdims', value: { type: 'int', i: 0 } }]),
    n('Neg', ['ceNeg'], ['ce']),
    n('ReduceSumSquare', ['W'], ['w2'], [{ name: 'keepdims', value: { type: 'int', i: 0 } }]),
    n('Mul', ['w2', 'halfLam'], ['pen']),
    n('Add', ['ce', 'pen'], ['loss']),
    n('Mul', ['P', 'sw'], ['Pw']),
    n('Sub', ['Pw', 'Yw'], ['G']),
    n('Gemm', ['X', 'G'], ['XtG'], [{ name: 'transA', value: { type: 'int', i: 1 } }]),
    n('Mul', ['W', 'lam'], ['lamW']),
    n('Add', ['XtG', 'lamW'], ['gW']),
    n('ReduceSum', ['G', 'axis0'], ['gb'], [{ name: 'keepdims', value: { type: 'int', i: 0 } }]),
  ];
  const f = DataType.FLOAT;
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ version: 13 }],
    producerName: 'graft',
    graph: {
      name: 'softmax_objective',
      node: nodes,
      initializer: [int64Tensor('axis0', [1], [0])],
      input: [
        { name: 'X', elemType: f, shape: ['n', 'd'] },
        { name: 'Yw', elemType: f, shape: ['n', 'k'] },
        { name: 'sw', elemType: f, shape: ['n', 1] },
        { name: 'W', elemType: f, shape: ['d', 'k'] },
        { name: 'b', elemType: f, shape: ['k'] },
        { name: 'lam', elemType: f, shape: [] },
        { name: 'halfLam', elemType: f, shape: [] },
      ],
      output: [
        { name: 'loss', elemType: f, shape: [] },
        { name: 'gW', elemType: f, shape: ['d', 'k'] },
        { name: 'gb', elemType: f, shape: ['k'] },
        { name: 'logits', elemType: f, shape: ['n', 'k'] },
      ],
    },
  });
}

export class SoftmaxObjective {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly feeds: Record<string, ort.Tensor>,
    readonly dim: number,
    readonly k: number,
    private readonly labels: Int32Array,
  ) {}

  static async create(train: Examples, o: SoftmaxObjectiveOptions): Promise<SoftmaxObjective> {
    const { n, dim } = train;
    const k = o.numClasses;
    const eps = o.labelSmoothing ?? 0;
    const w = new Float64Array(n);
    let wsum = 0;
    for (let i = 0; i < n; i++) {
      w[i] = o.classWeights ? o.classWeights[train.y[i]] : 1;
      wsum += w[i];
    }
    const sw = new Float32Array(n);
    const yw = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      sw[i] = w[i] / wsum;
      for (let c = 0; c < k; c++) yw[i * k + c] = sw[i] * ((c === train.y[i] ? 1 - eps : 0) + eps / k);
    }
    const session = await ort.InferenceSession.create(objectiveGraph(), {
      intraOpNumThreads: o.threads ?? os.availableParallelism(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
    const feeds = {
      X: new ort.Tensor('float32', train.x, [n, dim]), // wraps the caller's array: no copy
      Yw: new ort.Tensor('float32', yw, [n, k]),
      sw: new ort.Tensor('float32', sw, [n, 1]),
    };
    return new SoftmaxObjective(session, feeds, dim, k, train.y);
  }

  /** Objective, gradient (flat [W (d×k, row-major), b (k)]) and training accuracy at p. */
  async evaluate(p: Float64Array, lambda: number): Promise<{ f: number; g: Float64Array; accuracy: number }> {
    const { dim, k } = this;
    const W = Float32Array.from(p.subarray(0, dim * k));
    const b = Float32Array.from(p.subarray(dim * k, dim * k + k));
    const out = await this.session.run({
      ...this.feeds,
      W: new ort.Tensor('float32', W, [dim, k]),
      b: new ort.Tensor('float32', b, [k]),
      lam: new ort.Tensor('float32', Float32Array.of(lambda), []),
      halfLam: new ort.Tensor('float32', Float32Array.of(lambda / 2), []),
    });
    const g = new Float64Array(dim * k + k);
    g.set(out.gW.data as Float32Array, 0);
    g.set(out.gb.data as Float32Array, dim * k);
    const logits = out.logits.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < this.labels.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
      if (best === this.labels[i]) correct++;
    }
    return { f: (out.loss.data as Float32Array)[0], g, accuracy: correct / this.labels.length };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
