/** Small pieces of the training loop that need no Trainer: schedules, optimizer plumbing, metrics. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';

export type ScheduleName = 'constant' | 'cosine' | 'onecycle' | 'step';

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

/** Set an optimizer's learning rate (SGD/momentum keep it in a derived constant, Adam reads the field). */
export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (o.setLearningRate) o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** Dispose an optimizer fully (tfjs's momentum optimizer leaves its learning-rate scalar behind). */
export function disposeOptimizer(opt: tf.Optimizer): void {
  opt.dispose();
  (opt as unknown as { c?: tf.Tensor }).c?.dispose();
}

/** True for a model that is one Dense layer with linear activation (a softmax-regression head). */
export function isLinearDense(model: tfl.LayersModel): boolean {
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  const others = model.layers.filter((l) => !['Dense', 'InputLayer'].includes(l.getClassName()));
  return dense.length === 1 && others.length === 0 && (dense[0].getConfig().activation ?? 'linear') === 'linear' && dense[0].getWeights().length === 2;
}

/** Number of rows whose arg-max logit equals the label. */
export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')) as tf.Scalar;
}
