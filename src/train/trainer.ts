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
import { crc32 } from 'node:zlib';
import { tf } from '../engine/tfjs.js';
import { rng, shuffle } from '../util/rng.js';
import { FusedAdamOptimizer } from './fused-adam.js';
import { lbfgsMinimize } from './lbfgs.js';
import { SoftmaxObjective } from './softmax-objective.js';
import { EVAL_EPOCH, evalBatchSize, isBatchSource, range, readAll, toSource, type BatchSource, type Examples } from './source.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointOptions, type TrainProgress } from './checkpoint.js';

export type { BatchSource, Examples } from './source.js';
export type { CheckpointOptions } from './checkpoint.js';

/** What the Trainer trains and evaluates on: rows in memory, or a source that streams them. */
export type Rows = Examples | BatchSource;

export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'lbfgs';
export type ScheduleName = 'constant' | 'cosine' | 'onecycle' | 'step';

export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss?: number;
  val_accuracy?: number;
  lr: number;
  seconds: number;
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

/** Learning rate at `step` of `total` for a schedule peaking at `lr`. */
export function scheduledLr(schedule: ScheduleName, lr: number, step: number, total: number): number {
  const t = total > 1 ? Math.min(1, step / (total - 1)) : 0;
  switch (schedule) {
    case 'constant':
      return lr;
    case 'cosine':
      return lr * 0.5 * (1 + Math.cos(Math.PI * t));
    case 'onecycle': {
      const warm = 0.25;
      if (t < warm) return lr * (0.04 + 0.96 * (t / warm));
      return lr * 0.5 * (1 + Math.cos(Math.PI * ((t - warm) / (1 - warm))));
    }
    case 'step':
      return lr * Math.pow(0.1, Math.floor(t * 3 - 1e-9));
  }
}

function countClasses(y: Int32Array, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const v of y) c[v]++;
  return c;
}

export class Trainer {
  /** Set by a callback to stop after the current epoch. */
  stopTraining = false;
  readonly opts: Required<Omit<TrainerOptions, 'classWeights' | 'callbacks' | 'lrMultiplier' | 'lrAt' | 'checkpoint' | 'resume'>> & TrainerOptions;
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
    for (const cb of this.opts.callbacks ?? []) {
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
      if (o.optimizer === 'lbfgs') await this.fitLbfgs(await readAll(train), cw, onEpoch);
      else await this.fitMinibatch(train, val, cw, run, onEpoch, ctx);
      const last = this.history[this.history.length - 1]?.epoch;
      if (o.restoreBest && run.bestWeights && run.progress.best.epoch !== last) this.model.setWeights(run.bestWeights);
    } finally {
      run.bestWeights?.forEach((t) => t.dispose());
      cw?.dispose();
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
        tf.tidy(() => {
          const { value, correct } = this.lossAndGrads(x, train.y.subarray(s, s + m), train.dim, vars, cw);
          value.dataSync();
          correct.dispose();
        });
      }
      return (performance.now() - t0) / 1000 / Math.max(1, steps);
    } finally {
      this.model.setWeights(saved);
      tf.dispose(saved);
      cw?.dispose();
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
    for (const w of this.model.trainableWeights) {
      const mult = this.opts.lrMultiplier ? this.opts.lrMultiplier(w.originalName) : 1;
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
   * Loss of one batch (plus the L2 term unless AdamW), its gradients with respect to `vars`, and
   * the batch's number of correct predictions (kept: the caller disposes it). Call inside tidy.
   */
  private lossAndGrads(x: Float32Array, labels: Int32Array, dim: number, vars: tf.Variable[], cw: tf.Tensor1D | undefined) {
    const o = this.opts;
    const m = labels.length;
    const xt = tf.tensor2d(x, [m, dim]);
    const y = tf.tensor1d(labels, 'int32');
    let correct: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const logits = this.model.apply(xt, { training: true }) as tf.Tensor2D;
      correct = tf.keep(correctCount(logits, y));
      const l = this.lossOf(logits, y, cw);
      return o.optimizer !== 'adamw' && o.weightDecay > 0 ? (tf.add(l, this.l2Term()) as tf.Scalar) : l;
    }, vars);
    return { value, grads, correct: correct! };
  }

  /** What a checkpoint must agree on to continue this run: options, parameter groups, data. */
  private fingerprint(train: BatchSource, val: BatchSource | undefined): Record<string, unknown> {
    const o = this.opts;
    const mults = this.model.trainableWeights.map((w) => [w.originalName, o.lrMultiplier ? o.lrMultiplier(w.originalName) : 1] as const);
    const count = new Map<number, number>();
    for (const [, m] of mults) count.set(m, (count.get(m) ?? 0) + 1);
    const rows = (d: BatchSource) => `${d.n}×${d.dim}, labels crc32 ${crc32(new Uint8Array(d.y.buffer, d.y.byteOffset, d.y.byteLength))}`;
    return {
      optimizer: o.optimizer,
      lr: o.lr,
      lrAt: o.lrAt ? 'custom' : undefined,
      epochs: o.epochs,
      batchSize: o.batchSize,
      schedule: o.schedule,
      weightDecay: o.weightDecay,
      momentum: o.momentum,
      labelSmoothing: o.labelSmoothing,
      classWeights: o.classWeights,
      patience: o.patience,
      monitor: o.monitor,
      restoreBest: o.restoreBest,
      seed: o.seed,
      lrMultipliers: `${[...count].map(([m, c]) => `${c} at ×${m}`).join(', ')} (crc32 ${crc32(JSON.stringify(mults))})`,
      train: rows(train),
      val: val ? rows(val) : 'none',
    };
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
    const fingerprint = o.checkpoint ? this.fingerprint(train, val) : {};
    try {
      if (o.checkpoint && o.resume) {
        const saved = await loadCheckpoint(o.checkpoint, fingerprint, { model: this.model, optimizers });
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
        let lr = o.lr;
        let next: Promise<Float32Array> | undefined = train.rows(batch(0), epoch);
        for (let s = 0; s < train.n; s += bs) {
          const idx = batch(s);
          const x = await next!;
          next = s + bs < train.n ? train.rows(batch(s + bs), epoch) : undefined; // requested before this step runs
          const labels = Int32Array.from(idx, (i) => train.y[i]);
          lr = o.lrAt ? o.lrAt(step, totalSteps) : scheduledLr(o.schedule, o.lr, step, totalSteps);
          const [loss, acc] = this.trainStep(x, labels, train.dim, groups, vars, cw, lr);
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
        const stop = await onEpoch({ epoch, loss: lossSum / Math.max(1, seen), accuracy: correct / Math.max(1, seen), lr, seconds: (performance.now() - t0) / 1000 });
        Object.assign(p, { epoch: epoch + 1, step, rngState: rand.state, stopped: stop });
        if (o.checkpoint) await saveCheckpoint(o.checkpoint, fingerprint, { model: this.model, optimizers, bestWeights: run.bestWeights }, p);
      }
    } finally {
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
  ): [number, number] {
    const o = this.opts;
    return tf.tidy(() => {
      const { value, grads, correct } = this.lossAndGrads(x, labels, dim, vars, cw);
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
      const out: [number, number] = [value.dataSync()[0], correct.dataSync()[0]];
      correct.dispose();
      return out;
    });
  }

  private async fitLbfgs(train: Examples, cw: tf.Tensor1D | undefined, onEpoch: (l: EpochLogs) => Promise<boolean>): Promise<void> {
    const o = this.opts;
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const linear = isLinearDense(this.model);
    const x = linear ? undefined : tf.tensor2d(train.x, [train.n, train.dim]);
    const y = linear ? undefined : tf.tensor1d(train.y, 'int32');
    let objective: SoftmaxObjective | undefined;
    try {
      const sizes = vars.map((v) => v.size);
      const total = sizes.reduce((a, b) => a + b, 0);
      const setFlat = (p: Float64Array) => {
        let off = 0;
        vars.forEach((v, i) => {
          v.assign(tf.tensor(Float32Array.from(p.subarray(off, off + sizes[i])), v.shape));
          off += sizes[i];
        });
      };
      const getFlat = (): Float64Array => {
        const p = new Float64Array(total);
        let off = 0;
        vars.forEach((v, i) => {
          p.set(v.dataSync(), off);
          off += sizes[i];
        });
        return p;
      };
      let lastAcc = 0;
      let fg: (p: Float64Array) => Promise<{ f: number; g: Float64Array }>;
      if (isLinearDense(this.model)) {
        // A single Dense layer: evaluate the convex objective in ORT (fast GEMMs), not tfjs.
        const cwArr = cw ? Array.from(cw.dataSync()) : undefined;
        objective = await SoftmaxObjective.create(train, { numClasses: this.numClasses(), labelSmoothing: o.labelSmoothing, classWeights: cwArr, threads: o.threads || undefined });
        const obj = objective;
        fg = async (p) => {
          const r = await obj.evaluate(p, o.weightDecay);
          lastAcc = r.accuracy;
          return r;
        };
      } else {
        fg = async (p) => {
          tf.tidy(() => setFlat(p));
          const out = tf.tidy(() => {
            let acc: tf.Scalar | undefined;
            const { value, grads } = tf.variableGrads(() => {
              const logits = this.model.apply(x!, { training: false }) as tf.Tensor2D;
              acc = tf.keep(correctCount(logits, y!));
              const l = this.lossOf(logits, y!, cw);
              return o.weightDecay > 0 ? (tf.add(l, this.l2Term()) as tf.Scalar) : l;
            }, vars);
            return [value, acc!, ...vars.map((v) => grads[v.name])];
          });
          const [value, acc, ...grads] = out;
          lastAcc = acc.dataSync()[0] / train.n;
          const g = new Float64Array(total);
          let off = 0;
          grads.forEach((t, i) => {
            g.set(t.dataSync(), off);
            off += sizes[i];
          });
          const f = value.dataSync()[0];
          out.forEach((t) => t.dispose());
          return { f, g };
        };
      }
      let t0 = performance.now();
      await lbfgsMinimize(fg, getFlat(), {
        maxIter: o.epochs,
        tol: o.tol,
        onIter: async (it, f, p) => {
          if (linear) tf.tidy(() => setFlat(p)); // ORT does not touch the model: sync it for validation
          const stop = await onEpoch({ epoch: it, loss: f, accuracy: lastAcc, lr: 1, seconds: (performance.now() - t0) / 1000 });
          t0 = performance.now();
          return stop;
        },
        onPoint: (p) => tf.tidy(() => setFlat(p)),
      });
    } finally {
      x?.dispose();
      y?.dispose();
      await objective?.release();
    }
  }
}

/** The training loop lets the event loop run (Ctrl-C, I/O) at least this often; every step costs measurably more. */
const YIELD_MS = 200;

/** Per-fit state: where the run stands, and the best epoch's weights when they are kept. */
interface FitRun {
  progress: TrainProgress;
  bestWeights?: tf.Tensor[];
}

/** Set an optimizer's learning rate (SGD/momentum keep it in a derived constant, Adam reads the field). */
function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (o.setLearningRate) o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** Dispose an optimizer fully (tfjs's momentum optimizer leaves its learning-rate scalar behind). */
function disposeOptimizer(opt: tf.Optimizer): void {
  opt.dispose();
  (opt as unknown as { c?: tf.Tensor }).c?.dispose();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** True for a model that is one Dense layer with linear activation (a softmax-regression head). */
function isLinearDense(model: tfl.LayersModel): boolean {
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  const others = model.layers.filter((l) => !['Dense', 'InputLayer'].includes(l.getClassName()));
  return dense.length === 1 && others.length === 0 && (dense[0].getConfig().activation ?? 'linear') === 'linear' && dense[0].getWeights().length === 2;
}

/** Number of rows whose arg-max logit equals the label. */
function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')) as tf.Scalar;
}
