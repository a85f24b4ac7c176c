/**
 * Knowledge distillation (Hinton, Vinyals & Dean 2015) as a Trainer objective:
 *   loss = α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y)
 * with t the teacher's logits for the batch rows (computed once and cached by the caller, one row
 * per training row, looked up through `batch.idx`) and s the student's. The KL term is averaged over
 * every row of the batch (labelled or not: unlabelled rows, label < 0, are the transfer set); the
 * cross-entropy over the labelled rows only (0 when the batch has none). T² keeps the soft term's
 * gradient on the same scale as the hard term's when T changes (Hinton et al. §2).
 */
import { tf } from '../../engine/tfjs.js';
import type { Objective } from '../../train/objective.js';

export interface KdOptions {
  /**
   * Teacher logits, row-major [n, k], row i for training row i — or, with `views` > 1,
   * [views, n, k]: the teacher's logits for each cached augmented view of each row.
   */
  teacherLogits: Float32Array;
  /** Number of views in `teacherLogits` (default 1). */
  views?: number;
  /** Which view training row `row` reads at `epoch` (the augmented source's `pick`); needed when views > 1. */
  viewOf?: (row: number, epoch: number) => number;
  numClasses: number;
  temperature: number;
  /** Weight of the soft term in [0, 1]. */
  alpha: number;
}

/** The KD loss of student logits against teacher logits and labels (label < 0: unlabelled). Pure tensor maths, differentiable in `student`. */
export function kdLoss(student: tf.Tensor2D, teacher: tf.Tensor2D, labels: tf.Tensor1D, temperature: number, alpha: number): { loss: tf.Scalar; kl: tf.Scalar; ce: tf.Scalar } {
  return tf.tidy(() => {
    const T = temperature;
    const k = student.shape[1];
    const logPt = tf.logSoftmax(tf.div(teacher, T));
    const logPs = tf.logSoftmax(tf.div(student, T));
    const kl = tf.mean(tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1)) as tf.Scalar;
    const mask = tf.cast(tf.greaterEqual(labels, 0), 'float32');
    const safe = tf.cast(tf.maximum(labels, 0), 'int32') as tf.Tensor1D;
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(safe, k), tf.logSoftmax(student)), 1));
    const ce = tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
    const loss = tf.add(tf.mul(kl, alpha * T * T), tf.mul(ce, 1 - alpha)) as tf.Scalar;
    return { loss, kl, ce };
  });
}

export function kdObjective(o: KdOptions): Objective {
  if (!(o.temperature > 0)) throw new Error(`--temperature must be > 0 (got ${o.temperature})`);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`--alpha must be in [0, 1] (got ${o.alpha})`);
  const k = o.numClasses;
  if (o.teacherLogits.length % k !== 0) throw new Error(`teacher logits: ${o.teacherLogits.length} values are not a whole number of ${k}-class rows`);
  const views = o.views ?? 1;
  if (!Number.isInteger(views) || views < 1 || (o.teacherLogits.length / k) % views !== 0) throw new Error(`teacher logits: ${o.teacherLogits.length / k} rows are not ${views} whole view(s)`);
  if (views > 1 && !o.viewOf) throw new Error('teacher logits: several views need viewOf (which view each row reads per epoch)');
  const rows = o.teacherLogits.length / k / views;
  return {
    name: 'distill',
    fingerprint: { temperature: o.temperature, alpha: o.alpha, rows, views },
    loss: (batch) => {
      const m = batch.idx.length;
      const t = new Float32Array(m * k);
      batch.idx.forEach((r, i) => {
        if (r < 0 || r >= rows) throw new Error(`teacher logits: no cached row ${r} (have ${rows})`);
        const v = views > 1 ? o.viewOf!(r, batch.epoch) : 0;
        if (!(v >= 0 && v < views)) throw new Error(`teacher logits: no view ${v} (have ${views})`);
        const at = (v * rows + r) * k;
        t.set(o.teacherLogits.subarray(at, at + k), i * k);
      });
      const logits = batch.model.apply(batch.x, { training: true }) as tf.Tensor2D;
      const { loss, kl, ce } = kdLoss(logits, tf.tensor2d(t, [m, k]), batch.labels, o.temperature, o.alpha);
      return { loss, logits, terms: { kl, ce } };
    },
  };
}
