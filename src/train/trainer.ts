/**
 * The one Trainer: every head, fine-tune and strategy trains through it.
 *
 * Minibatch optimisers (Adam, AdamW, SGD+momentum) with schedules (constant, cosine, one-cycle,
 * step), weight decay, label smoothing, class weights, early stopping on a validation metric with
 * best-weights restore, seeded shuffling and callbacks. `optimizer: 'lbfgs'` fits full-batch with
 * L-BFGS (the right tool for a linear head on cached features: a convex problem); each L-BFGS
 * iteration is reported to callbacks as one epoch.
 *
 * Rows come from `Examples` (in memory) or any `BatchSource` (streamed: the next batch is requested
 * before the current step runs, so a source's I/O overlaps it). With `checkpoint`, the whole
 * training state is saved after every epoch, and `resume` continues a run from it exactly (same
 * weights as an uninterrupted run).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { rng, shuffle } from '../util/rng.js';
import { fitLbfgs } from './fit-lbfgs.js';
import { FusedAdamOptimizer } from './fused-adam.js';
import { correctCount, disposeOptimizer, scheduledLr, setLearningRate, type ScheduleName } from './optim.js';
import { EVAL_EPOCH, evalBatchSize, isBatchSource, range, readAll, toSource, type BatchSource, type Examples } from './source.js';
import { DropoutSeeds } from './dropout-seeds.js';
import { loadCheckpoint, runFingerprint, saveCheckpoint, type CheckpointOptions, type TrainProgress } from './checkpoint.js';
import type { Objective, StepInfo } from './objective.js';

export type { BatchSource, Examples } from './source.js';
export type { CheckpointOptions } from './checkpoint.js';
export type { Objective, ObjectiveBatch, ObjectiveOutput, StepInfo } from './objective.js';

/** What the Trainer trains and evaluates on: rows in memory, or a source that streams them. */
export type Rows = Examples | BatchSource;

export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'lbfgs';
export { scheduledLr, type ScheduleName } from './optim.js';

export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss?: number;
  val_accuracy?: number;
  lr: number;
  seconds: number;
  /** An objective's named loss terms, averaged over the epoch's training batches. */
  terms?: Record<string, number>;
}

export interface TrainContext {
  model: tfl.LayersModel;
  trainer: Trainer;
}

export interface Callback {
  onTrainBegin?(ctx: TrainContext): void | Promise<void>;
  onEpochEnd?(logs: EpochLogs, ctx: TrainContext): void | Promise<void>;
  onBatchEnd?(step: number, loss: number, ctx: TrainContext): void | Promise<void>;
  /** fit() continues from a checkpoint in which `epochsDone` epochs were complete. */
  onResume?(epochsDone: number, ctx: TrainContext): void | Promise<void>;
  onTrainEnd?(history: EpochLogs[], ctx: TrainContext): void | Promise<void>;
}

/**
 * Callbacks every Trainer in this process calls after its own (how a `graft serve` training job
 * streams epoch metrics from whichever recipe it runs, src/serve/jobs/child.ts).
 */
export const processCallbacks: Callback[] = [];

export interface TrainerOptions {
  optimizer?: OptimizerName;
  lr?: number;
  epochs?: number;
  batchSize?: number;
  schedule?: ScheduleName;
  /** Learning rate per step, overriding `schedule` (e.g. the LR finder's exponential sweep). */
  lrAt?: (step: number, totalSteps: number) => number;
  /** Decoupled for AdamW, an L2 penalty on kernels otherwise (and for L-BFGS). */
  weightDecay?: number;
  momentum?: number;
  labelSmoothing?: number;
  /** Per-class loss weights, or 'balanced' (n / (k * count_c)). */
  classWeights?: number[] | 'balanced';
  /** Stop after this many epochs without improvement of `monitor` (0 = never). */
  patience?: number;
  monitor?: 'val_accuracy' | 'val_loss';
  /** Restore the weights of the best epoch at the end (needs validation data). */
  restoreBest?: boolean;
  seed?: number;
  /** L-BFGS gradient-norm tolerance. */
  tol?: number;
  /** Threads for ORT-computed objectives (default: all cores). */
  threads?: number;
  /**
   * Learning-rate multiplier of each trainable variable, by its original name (e.g.
   * 'block_16_expand/kernel'); 0 freezes it. Default 1: one learning rate for everything.
   */
  lrMultiplier?: (name: string) => number;
  callbacks?: Callback[];
  /** Save the whole training state to this file after every epoch (minibatch optimizers only). */
  checkpoint?: CheckpointOptions;
  /** Continue from `checkpoint.path` if that file exists (else start fresh). */
  resume?: boolean;
  /** The training loss, when it is not cross-entropy of the model's logits (minibatch optimizers only). */
  objective?: Objective;
}

const DEFAULTS = {
  optimizer: 'adam' as OptimizerName,
  lr: 1e-3,
  epochs: 30,
  batchSize: 64,
  schedule: 'cosine' as ScheduleName,
  weightDecay: 0,
  momentum: 0.9,
  labelSmoothing: 0,
  patience: 0,
  monitor: 'val_accuracy' as const,
  restoreBest: true,
  seed: 0,
  tol: 1e-5,
  threads: 0,
};

function countClasses(y: Int32Array, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const v of y) if (v >= 0) c[v]++;
  return c;
}

export class Trainer {
  /** Set by a callback to stop after the current epoch. */
  stopTraining = false;
  readonly opts: Required<Omit<TrainerOptions, 'classWeights' | 'callbacks' | 'lrMultiplier' | 'lrAt' | 'checkpoint' | 'resume' | 'objective'>> & TrainerOptions;
  readonly history: EpochLogs[] = [];

  constructor(readonly model: tfl.LayersModel, opts: TrainerOptions = {}) {
    this.opts = { ...DEFAULTS, ...stripUndefined(opts) };
  }

  private numClasses(): number {
    const shape = this.model.outputs[0].shape;
    return shape[shape.length - 1] as number;
  }

  private classWeightTensor(train: BatchSource): tf.Tensor1D | undefined {
    const cw = this.opts.classWeights;
    if (!cw) return undefined;
    const k = this.numClasses();
    if (cw === 'balanced') {
      const counts = countClasses(train.y, k);
      return tf.tensor1d(counts.map((c) => (c > 0 ? train.n / (k * c) : 0)));
    }
    if (cw.length !== k) throw new Error(`classWeights has ${cw.length} entries, model has ${k} classes`);
    return tf.tensor1d(cw);
  }

  /** Mean (optionally class-weighted, label-smoothed) softmax cross-entropy of logits vs labels. */
  lossOf(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights?: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => {
      const k = logits.shape[1];
      let target = tf.cast(tf.oneHot(labels, k), 'float32') as tf.Tensor2D;
      const eps = this.opts.labelSmoothing;
      if (eps > 0) target = tf.add(tf.mul(target, 1 - eps), eps / k);
      const logp = tf.logSoftmax(logits);
      const per = tf.neg(tf.sum(tf.mul(target, logp), 1));
      if (classWeights) {
        const w = tf.gather(classWeights, labels);
        return tf.div(tf.sum(tf.mul(per, w)), tf.sum(w)) as tf.Scalar;
      }
      return tf.mean(per) as tf.Scalar;
    });
  }

  private kernels(): tf.Variable[] {
    return this.model.trainableWeights.filter((w) => /kernel/.test(w.originalName)).map((w) => w.read() as tf.Variable);
  }

  private l2Term(): tf.Scalar {
    const wd = this.opts.weightDecay;
    return tf.tidy(() => {
      let s: tf.Scalar = tf.scalar(0);
      for (const k of this.kernels()) s = tf.add(s, tf.sum(tf.square(k)));
      return tf.mul(s, 0.5 * wd) as tf.Scalar;
    });
  }

  /** Loss and accuracy of the model (inference mode), batched; a promise for a BatchSource. */
  evaluate(data: Examples, batchSize?: number): { loss: number; accuracy: number };
  evaluate(data: BatchSource, batchSize?: number): Promise<{ loss: number; accuracy: number }>;
  evaluate(data: Rows, batchSize?: number): { loss: number; accuracy: number } | Promise<{ loss: number; accuracy: number }>;
  evaluate(data: Rows, batchSize?: number): { loss: number; accuracy: number } | Promise<{ loss: number; accuracy: number }> {
    if (isBatchSource(data)) return this.evaluateSource(data, batchSize);
    const bs = batchSize ?? evalBatchSize(data.dim);
    let loss = 0;
    let correct = 0;
    for (let s = 0; s < data.n; s += bs) {
      const e = Math.min(data.n, s + bs);
      const [l, c] = this.evalBatch(data.x.subarray(s * data.dim, e * data.dim), data.y.subarray(s, e), data.dim);
      loss += l;
      correct += c;
    }
    return { loss: loss / Math.max(1, data.n), accuracy: correct / Math.max(1, data.n) };
  }

  private async evaluateSource(data: BatchSource, batchSize = evalBatchSize(data.dim, this.opts.batchSize)): Promise<{ loss: number; accuracy: number }> {
    let loss = 0;
    let correct = 0;
    for (let s = 0; s < data.n; s += batchSize) {
      const m = Math.min(batchSize, data.n - s);
      const [l, c] = this.evalBatch(await data.rows(range(s, m), EVAL_EPOCH), data.y.subarray(s, s + m), data.dim);
      loss += l;
      correct += c;
    }
    return { loss: loss / Math.max(1, data.n), accuracy: correct / Math.max(1, data.n) };
  }

  /** Summed cross-entropy and number correct on one batch of rows. */
  private evalBatch(x: Float32Array, labels: Int32Array, dim: number): [number, number] {
    return tf.tidy(() => {
      const m = labels.length;
      const y = tf.tensor1d(labels, 'int32');
      const logits = this.model.apply(tf.tensor2d(x, [m, dim]), { training: false }) as tf.Tensor2D;
      const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(y, logits.shape[1]), logits, undefined, undefined, tf.Reduction.SUM);
      return [ce.dataSync()[0], correctCount(logits, y).dataSync()[0]];
    });
  }

  private snapshot(): tf.Tensor[] {
    return this.model.getWeights().map((w) => w.clone());
  }

  private async callbacks<K extends keyof Callback>(name: K, ...args: unknown[]): Promise<void> {
    for (const cb of [...(this.opts.callbacks ?? []), ...processCallbacks]) {
      const f = cb[name] as ((...a: unknown[]) => unknown) | undefined;
      if (f) await f.apply(cb, args);
    }
  }

  /**
   * Train on `train`, validating on `val` after every epoch. Returns the per-epoch history (with
   * `resume`, including the epochs done before the checkpoint).
   */
  async fit(trainRows: Rows, valRows?: Rows): Promise<EpochLogs[]> {
    const train = toSource(trainRows);
    const val = valRows && valRows.n > 0 ? toSource(valRows) : undefined;
    if (train.n === 0) throw new Error('no training examples');
    const o = this.opts;
    if (o.checkpoint && o.optimizer === 'lbfgs') throw new Error('checkpoints need a minibatch optimizer (adam, adamw or sgd), not lbfgs');
    if (o.objective && o.optimizer === 'lbfgs') throw new Error(`objective ${o.objective.name} needs a minibatch optimizer (adam, adamw or sgd), not lbfgs`);
    const ctx: TrainContext = { model: this.model, trainer: this };
    await this.callbacks('onTrainBegin', ctx);
    const cw = this.classWeightTensor(train);
    const run: FitRun = {
      progress: { epoch: 0, step: 0, rngState: o.seed >>> 0, stopped: false, history: this.history, best: { score: -Infinity, epoch: -1 } },
    };
    const score = (logs: EpochLogs): number | undefined =>
      logs.val_accuracy === undefined ? undefined : o.monitor === 'val_loss' ? -(logs.val_loss as number) : (logs.val_accuracy as number) - 1e-9 * (logs.val_loss as number);
    const onEpoch = async (logs: EpochLogs): Promise<boolean> => {
      if (val) {
        const v = await this.evaluateSource(val);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      this.history.push(logs);
      const sc = score(logs);
      const best = run.progress.best;
      if (sc !== undefined && sc > best.score) {
        run.bestWeights?.forEach((t) => t.dispose());
        run.bestWeights = o.restoreBest ? this.snapshot() : undefined;
        run.progress.best = { score: sc, epoch: logs.epoch };
      }
      await this.callbacks('onEpochEnd', logs, ctx);
      const b = run.progress.best.epoch;
      if (o.patience > 0 && b >= 0 && logs.epoch - b >= o.patience) this.stopTraining = true;
      return this.stopTraining;
    };
    try {
      if (o.optimizer === 'lbfgs') {
        const rows = await readAll(train);
        await fitLbfgs({ model: this.model, train: rows, classWeights: cw, numClasses: this.numClasses(), opts: o, lossOf: (l, y, w) => this.lossOf(l, y, w), l2Term: () => this.l2Term(), onEpoch });
      }
      else await this.fitMinibatch(train, val, cw, run, onEpoch, ctx);
      const last = this.history[this.history.length - 1]?.epoch;
      if (o.restoreBest && run.bestWeights && run.progress.best.epoch !== last) this.model.setWeights(run.bestWeights);
    } finally {
      run.bestWeights?.forEach((t) => t.dispose());
      cw?.dispose();
      o.objective?.end?.();
    }
    await this.callbacks('onTrainEnd', this.history, ctx);
    return this.history;
  }

  /**
   * Seconds per training step on real batches of `train`, fetching the rows included: `warmup`
   * untimed steps, then the mean of `steps` timed ones. Gradients are computed and dropped; the
   * weights (BatchNorm statistics too) are left as they were.
   */
  async timeSteps(trainRows: Rows, steps = 2, warmup = 1): Promise<number> {
    const train = toSource(trainRows);
    const vars = this.paramGroups().flatMap((g) => g.vars);
    const bs = Math.min(this.opts.batchSize, train.n);
    const saved = this.snapshot();
    const cw = this.classWeightTensor(train);
    let t0 = performance.now();
    try {
      for (let i = 0; i < warmup + steps; i++) {
        if (i === warmup) t0 = performance.now();
        const s = (i * bs) % train.n;
        const m = Math.min(bs, train.n - s);
        const x = await train.rows(range(s, m), 0);
        await this.opts.objective?.beforeStep?.({ epoch: 0, step: i, totalSteps: warmup + steps, progress: 0, idx: range(s, m) });
        tf.tidy(() => {
          const idx = range(s, m);
          const { value, correct, terms } = this.lossAndGrads(x, train.y.subarray(s, s + m), train.dim, vars, cw, { epoch: 0, step: i, totalSteps: warmup + steps, progress: 0, idx });
          value.dataSync();
          tf.dispose([correct, ...Object.values(terms)]);
        });
      }
      return (performance.now() - t0) / 1000 / Math.max(1, steps);
    } finally {
      this.model.setWeights(saved);
      tf.dispose(saved);
      cw?.dispose();
      this.opts.objective?.end?.();
    }
  }

  private makeOptimizer(): tf.Optimizer {
    const o = this.opts;
    switch (o.optimizer) {
      case 'adam':
      case 'adamw':
        return new FusedAdamOptimizer(o.lr);
      case 'sgd':
        return tf.train.momentum(o.lr, o.momentum, true);
      default:
        throw new Error(`unknown optimizer ${o.optimizer}`);
    }
  }

  /** Trainable variables grouped by learning-rate multiplier (multiplier 0 = frozen, left out). */
  private paramGroups(): { mult: number; vars: tf.Variable[]; kernels: tf.Variable[] }[] {
    const groups = new Map<number, { mult: number; vars: tf.Variable[]; kernels: tf.Variable[] }>();
    const own = new Set(this.model.trainableWeights);
    const extra = (this.opts.objective?.modules ?? []).flatMap((m) => m.trainableWeights);
    for (const w of [...this.model.trainableWeights, ...extra]) {
      const mult = own.has(w) && this.opts.lrMultiplier ? this.opts.lrMultiplier(w.originalName) : 1;
      if (!(mult > 0)) continue;
      const g = groups.get(mult) ?? { mult, vars: [], kernels: [] };
      const v = w.read() as tf.Variable;
      g.vars.push(v);
      if (/kernel/.test(w.originalName)) g.kernels.push(v);
      groups.set(mult, g);
    }
    if (!groups.size) throw new Error('nothing to train: every variable is frozen');
    return [...groups.values()];
  }

  /**
   * Loss of one batch (plus the L2 term unless AdamW), its gradients with respect to `vars`, the
   * batch's number of correct predictions and the objective's loss terms (kept: the caller
   * disposes them). Call inside tidy.
   */
  private lossAndGrads(x: Float32Array, labels: Int32Array, dim: number, vars: tf.Variable[], cw: tf.Tensor1D | undefined, info: StepInfo) {
    const o = this.opts;
    const m = labels.length;
    const xt = tf.tensor2d(x, [m, dim]);
    const y = tf.tensor1d(labels, 'int32');
    let correct: tf.Scalar | undefined;
    let terms: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      let logits: tf.Tensor2D;
      let l: tf.Scalar;
      if (o.objective) {
        const out = o.objective.loss({ ...info, model: this.model, x: xt, labels: y, crossEntropy: (lg, lb) => this.lossOf(lg, lb, cw) });
        logits = out.logits;
        l = out.loss;
        terms = Object.fromEntries(Object.entries(out.terms ?? {}).map(([k, t]) => [k, tf.keep(t)]));
      } else {
        logits = this.model.apply(xt, { training: true }) as tf.Tensor2D;
        l = this.lossOf(logits, y, cw);
      }
      correct = tf.keep(correctCount(logits, y));
      return o.optimizer !== 'adamw' && o.weightDecay > 0 ? (tf.add(l, this.l2Term()) as tf.Scalar) : l;
    }, vars);
    return { value, grads, correct: correct!, terms };
  }

  private async fitMinibatch(
    train: BatchSource,
    val: BatchSource | undefined,
    cw: tf.Tensor1D | undefined,
    run: FitRun,
    onEpoch: (l: EpochLogs) => Promise<boolean>,
    ctx: TrainContext,
  ): Promise<void> {
    const o = this.opts;
    // One optimizer per learning-rate group (discriminative learning rates, fastai's slice(lo, hi)).
    const groups = this.paramGroups().map((g) => ({ ...g, opt: this.makeOptimizer() }));
    const vars = groups.flatMap((g) => g.vars);
    const optimizers = groups.map((g) => g.opt);
    const fingerprint = o.checkpoint ? runFingerprint(this.model, o, train, val) : {};
    const dropouts = new DropoutSeeds([this.model, ...(o.objective?.modules ?? [])]);
    try {
      if (o.checkpoint && o.resume) {
        const saved = await loadCheckpoint(o.checkpoint, fingerprint, { model: this.model, modules: o.objective?.modules, optimizers });
        if (saved) {
          run.bestWeights?.forEach((t) => t.dispose());
          run.bestWeights = saved.bestWeights;
          this.history.splice(0, this.history.length, ...saved.progress.history);
          run.progress = { ...saved.progress, history: this.history };
          this.stopTraining = saved.progress.stopped;
          await this.callbacks('onResume', saved.progress.epoch, ctx);
        }
      }
      const p = run.progress;
      const rand = rng(p.rngState);
      const order = new Int32Array(train.n);
      const bs = Math.min(o.batchSize, train.n);
      const totalSteps = Math.ceil(train.n / bs) * o.epochs;
      const batch = (s: number) => order.slice(s, Math.min(train.n, s + bs));
      let step = p.step;
      let lastYield = performance.now();
      for (let epoch = p.epoch; epoch < o.epochs && !p.stopped; epoch++) {
        const t0 = performance.now();
        for (let i = 0; i < order.length; i++) order[i] = i;
        shuffle(order, rand);
        let lossSum = 0;
        let correct = 0;
        let seen = 0;
        const termSums = new Map<string, number>();
        let lr = o.lr;
        let next: Promise<Float32Array> | undefined = train.rows(batch(0), epoch);
        for (let s = 0; s < train.n; s += bs) {
          const idx = batch(s);
          const x = await next!;
          next = s + bs < train.n ? train.rows(batch(s + bs), epoch) : undefined; // requested before this step runs
          const labels = Int32Array.from(idx, (i) => train.y[i]);
          lr = o.lrAt ? o.lrAt(step, totalSteps) : scheduledLr(o.schedule, o.lr, step, totalSteps);
          const info: StepInfo = { epoch, step, totalSteps, progress: step / totalSteps, idx };
          await o.objective?.beforeStep?.(info);
          dropouts.step(step);
          const [loss, acc, terms] = this.trainStep(x, labels, train.dim, groups, vars, cw, lr, info);
          for (const [k, v] of Object.entries(terms)) termSums.set(k, (termSums.get(k) ?? 0) + v * idx.length);
          lossSum += loss * idx.length;
          correct += acc;
          seen += idx.length;
          await this.callbacks('onBatchEnd', step, loss, ctx);
          step++;
          if (performance.now() - lastYield > YIELD_MS) {
            await new Promise<void>((r) => setImmediate(r)); // let signals (Ctrl-C) and I/O in between steps
            lastYield = performance.now();
          }
          if (this.stopTraining) break;
        }
        next?.catch(() => undefined); // a prefetch abandoned by a stop mid-epoch
        const logs: EpochLogs = { epoch, loss: lossSum / Math.max(1, seen), accuracy: correct / Math.max(1, seen), lr, seconds: (performance.now() - t0) / 1000 };
        if (termSums.size) logs.terms = Object.fromEntries([...termSums].map(([k, v]) => [k, v / Math.max(1, seen)]));
        const stop = await onEpoch(logs);
        Object.assign(p, { epoch: epoch + 1, step, rngState: rand.state, stopped: stop });
        if (o.checkpoint) await saveCheckpoint(o.checkpoint, fingerprint, { model: this.model, modules: o.objective?.modules, optimizers, bestWeights: run.bestWeights }, p);
      }
    } finally {
      dropouts.restore();
      for (const g of groups) disposeOptimizer(g.opt);
    }
  }

  /** One optimizer step on a batch; returns its loss and number correct. */
  private trainStep(
    x: Float32Array,
    labels: Int32Array,
    dim: number,
    groups: { mult: number; vars: tf.Variable[]; kernels: tf.Variable[]; opt: tf.Optimizer }[],
    vars: tf.Variable[],
    cw: tf.Tensor1D | undefined,
    lr: number,
    info: StepInfo,
  ): [number, number, Record<string, number>] {
    const o = this.opts;
    return tf.tidy(() => {
      const { value, grads, correct, terms } = this.lossAndGrads(x, labels, dim, vars, cw, info);
      for (const g of groups) {
        const glr = lr * g.mult;
        setLearningRate(g.opt, glr);
        const decoupled = o.optimizer === 'adamw' && o.weightDecay > 0;
        if (decoupled && g.opt instanceof FusedAdamOptimizer && g.opt.decayed.size === 0) {
          // AdamW's decay of the kernels runs inside the fused update.
          for (const k of g.kernels) g.opt.decayed.add(k.name);
          g.opt.decayRate = o.weightDecay;
        }
        g.opt.applyGradients(Object.fromEntries(g.vars.map((v) => [v.name, grads[v.name]])));
        if (decoupled && !(g.opt instanceof FusedAdamOptimizer)) for (const k of g.kernels) k.assign(tf.mul(k, 1 - glr * o.weightDecay));
      }
      const out: [number, number, Record<string, number>] = [value.dataSync()[0], correct.dataSync()[0], Object.fromEntries(Object.entries(terms).map(([k, t]) => [k, t.dataSync()[0]]))];
      tf.dispose([correct, ...Object.values(terms)]);
      return out;
    });
  }

}

/** The training loop lets the event loop run (Ctrl-C, I/O) at least this often; every step costs measurably more. */
const YIELD_MS = 200;

/** Per-fit state: where the run stands, and the best epoch's weights when they are kept. */
interface FitRun {
  progress: TrainProgress;
  bestWeights?: tf.Tensor[];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
