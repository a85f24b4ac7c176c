/**
 * The one Trainer: every head, fine-tune and strategy trains through it.
 *
 * Minibatch optimisers (Adam, AdamW, SGD+momentum) with schedules (constant, cosine, one-cycle,
 * step), weight decay, label smoothing, class weights, early stopping on a validation metric with
 * best-weights restore, seeded shuffling and callbacks. `optimizer: 'lbfgs'` fits full-batch with
 * L-BFGS (the right tool for a linear head on cached features: a convex problem); each L-BFGS
 * iteration is reported to callbacks as one epoch.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { rng, shuffle } from '../util/rng.js';
import { lbfgsMinimize } from './lbfgs.js';
import { SoftmaxObjective } from './softmax-objective.js';

export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'lbfgs';
export type ScheduleName = 'constant' | 'cosine' | 'onecycle' | 'step';

/** Dense row-major examples: x is n×dim, y holds class indices. */
export interface Examples {
  x: Float32Array;
  y: Int32Array;
  n: number;
  dim: number;
}

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
  readonly opts: Required<Omit<TrainerOptions, 'classWeights' | 'callbacks' | 'lrMultiplier' | 'lrAt'>> & TrainerOptions;
  readonly history: EpochLogs[] = [];

  constructor(readonly model: tfl.LayersModel, opts: TrainerOptions = {}) {
    this.opts = { ...DEFAULTS, ...stripUndefined(opts) };
  }

  private numClasses(): number {
    const shape = this.model.outputs[0].shape;
    return shape[shape.length - 1] as number;
  }

  private classWeightTensor(train: Examples): tf.Tensor1D | undefined {
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

  /** Loss and accuracy of the model on examples (inference mode), batched. */
  evaluate(data: Examples, batchSize = 1024): { loss: number; accuracy: number } {
    let loss = 0;
    let correct = 0;
    for (let s = 0; s < data.n; s += batchSize) {
      const e = Math.min(data.n, s + batchSize);
      const [l, c] = tf.tidy(() => {
        const x = tf.tensor2d(data.x.subarray(s * data.dim, e * data.dim), [e - s, data.dim]);
        const y = tf.tensor1d(data.y.subarray(s, e), 'int32');
        const logits = this.model.apply(x, { training: false }) as tf.Tensor2D;
        const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(y, logits.shape[1]), logits, undefined, undefined, tf.Reduction.SUM);
        const acc = correctCount(logits, y);
        return [ce.dataSync()[0], acc.dataSync()[0]];
      });
      loss += l;
      correct += c;
    }
    return { loss: loss / Math.max(1, data.n), accuracy: correct / Math.max(1, data.n) };
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

  /** Train on `train`, validating on `val` after every epoch. Returns the per-epoch history. */
  async fit(train: Examples, val?: Examples): Promise<EpochLogs[]> {
    if (train.n === 0) throw new Error('no training examples');
    const ctx: TrainContext = { model: this.model, trainer: this };
    await this.callbacks('onTrainBegin', ctx);
    const o = this.opts;
    const cw = this.classWeightTensor(train);
    let best: { score: number; epoch: number; weights?: tf.Tensor[] } = { score: -Infinity, epoch: -1 };
    const better = (logs: EpochLogs): number | undefined =>
      logs.val_accuracy === undefined ? undefined : o.monitor === 'val_loss' ? -(logs.val_loss as number) : (logs.val_accuracy as number) - 1e-9 * (logs.val_loss as number);
    const onEpoch = async (logs: EpochLogs): Promise<boolean> => {
      if (val && val.n > 0) {
        const v = this.evaluate(val);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      this.history.push(logs);
      const score = better(logs);
      if (score !== undefined && score > best.score) {
        best.weights?.forEach((t) => t.dispose());
        best = { score, epoch: logs.epoch, weights: o.restoreBest ? this.snapshot() : undefined };
      }
      await this.callbacks('onEpochEnd', logs, ctx);
      if (o.patience > 0 && best.epoch >= 0 && logs.epoch - best.epoch >= o.patience) this.stopTraining = true;
      return this.stopTraining;
    };
    try {
      if (o.optimizer === 'lbfgs') await this.fitLbfgs(train, cw, onEpoch);
      else await this.fitMinibatch(train, cw, onEpoch);
      if (o.restoreBest && best.weights && best.epoch !== this.history[this.history.length - 1]?.epoch) this.model.setWeights(best.weights);
    } finally {
      best.weights?.forEach((t) => t.dispose());
      cw?.dispose();
    }
    await this.callbacks('onTrainEnd', this.history, ctx);
    return this.history;
  }

  private makeOptimizer(): tf.Optimizer {
    const o = this.opts;
    switch (o.optimizer) {
      case 'adam':
      case 'adamw':
        return tf.train.adam(o.lr);
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

  private async fitMinibatch(train: Examples, cw: tf.Tensor1D | undefined, onEpoch: (l: EpochLogs) => Promise<boolean>): Promise<void> {
    const o = this.opts;
    // One optimizer per learning-rate group (discriminative learning rates, fastai's slice(lo, hi)).
    const groups = this.paramGroups().map((g) => ({ ...g, opt: this.makeOptimizer() }));
    const vars = groups.flatMap((g) => g.vars);
    const rand = rng(o.seed);
    const order = Int32Array.from({ length: train.n }, (_, i) => i);
    const bs = Math.min(o.batchSize, train.n);
    const stepsPerEpoch = Math.ceil(train.n / bs);
    const totalSteps = stepsPerEpoch * o.epochs;
    const xb = new Float32Array(bs * train.dim);
    const yb = new Int32Array(bs);
    let step = 0;
    try {
      for (let epoch = 0; epoch < o.epochs; epoch++) {
        const t0 = performance.now();
        shuffle(order, rand);
        let lossSum = 0;
        let correct = 0;
        let lr = o.lr;
        for (let s = 0; s < train.n; s += bs) {
          const m = Math.min(bs, train.n - s);
          for (let r = 0; r < m; r++) {
            const i = order[s + r];
            xb.set(train.x.subarray(i * train.dim, (i + 1) * train.dim), r * train.dim);
            yb[r] = train.y[i];
          }
          lr = o.lrAt ? o.lrAt(step, totalSteps) : scheduledLr(o.schedule, o.lr, step, totalSteps);
          const [loss, acc] = tf.tidy(() => {
            const x = tf.tensor2d(xb.subarray(0, m * train.dim), [m, train.dim]);
            const y = tf.tensor1d(yb.subarray(0, m), 'int32');
            let accT: tf.Scalar | undefined;
            const { value, grads } = tf.variableGrads(() => {
              const logits = this.model.apply(x, { training: true }) as tf.Tensor2D;
              accT = tf.keep(correctCount(logits, y));
              const l = this.lossOf(logits, y, cw);
              return o.optimizer !== 'adamw' && o.weightDecay > 0 ? (tf.add(l, this.l2Term()) as tf.Scalar) : l;
            }, vars);
            for (const g of groups) {
              const glr = lr * g.mult;
              (g.opt as unknown as { learningRate: number }).learningRate = glr;
              g.opt.applyGradients(Object.fromEntries(g.vars.map((v) => [v.name, grads[v.name]])));
              if (o.optimizer === 'adamw' && o.weightDecay > 0) for (const k of g.kernels) k.assign(tf.mul(k, 1 - glr * o.weightDecay));
            }
            const out = [value.dataSync()[0], accT!.dataSync()[0]];
            accT!.dispose();
            return out;
          });
          lossSum += loss * m;
          correct += acc;
          await this.callbacks('onBatchEnd', step, loss, { model: this.model, trainer: this });
          step++;
          if (this.stopTraining) break;
        }
        const stop = await onEpoch({ epoch, loss: lossSum / train.n, accuracy: correct / train.n, lr, seconds: (performance.now() - t0) / 1000 });
        if (stop) break;
      }
    } finally {
      for (const g of groups) g.opt.dispose();
    }
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
