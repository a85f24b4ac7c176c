/**
 * A training objective other than plain cross-entropy, plugged into the one Trainer: distillation
 * (soft targets per row), domain adaptation (a discriminator behind gradient reversal, a CORAL term
 * on target rows), self-supervised pretraining (a contrastive loss over two views), …
 *
 * The Trainer still owns the loop — shuffling, batches, schedules, optimizers, checkpoints, early
 * stopping, callbacks — and asks the objective for the loss of each training batch inside the
 * gradient tape. An objective may bring its own trainable networks (`modules`); they are optimised
 * with the model (learning-rate multiplier 1) and saved in its checkpoints. Validation keeps
 * measuring the model's cross-entropy and accuracy on labelled rows.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { tf } from '../engine/tfjs.js';

/** Where a training step stands. */
export interface StepInfo {
  epoch: number;
  /** Optimizer steps taken before this one. */
  step: number;
  totalSteps: number;
  /** step / totalSteps, in [0, 1): DANN's λ and learning-rate ramps read it. */
  progress: number;
  /** Row indices (into the training rows) of this batch. */
  idx: Int32Array;
}

/** One training batch, as the objective sees it inside the gradient tape. */
export interface ObjectiveBatch extends StepInfo {
  model: tfl.LayersModel;
  /** The batch rows [m, dim]. */
  x: tf.Tensor2D;
  /** Their labels (int32; a negative label marks an unlabelled row). */
  labels: tf.Tensor1D;
  /** The Trainer's own loss of logits against labels (label smoothing, class weights). */
  crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar;
}

export interface ObjectiveOutput {
  /** The loss to minimise (the Trainer adds its L2 term where that applies). */
  loss: tf.Scalar;
  /** The model's class logits for the batch: training accuracy is measured on them. */
  logits: tf.Tensor2D;
  /** Named parts of the loss (or any scalar worth watching, e.g. a discriminator's accuracy), averaged per epoch into `EpochLogs.terms`. */
  terms?: Record<string, tf.Scalar>;
}

export interface Objective {
  /** Names the objective in checkpoints (a checkpoint of another objective is refused). */
  name: string;
  /** Extra trainable networks (a domain discriminator, a projection head). */
  modules?: tfl.LayersModel[];
  /** Settings that must match for a checkpoint to continue this run. */
  fingerprint?: Record<string, unknown>;
  /** Before each step, outside the tape: fetch what the loss needs (e.g. a batch of target rows). */
  beforeStep?(info: StepInfo): void | Promise<void>;
  /** After training (also when it fails): release what beforeStep kept. */
  end?(): void;
  /** The loss of one batch; called inside the gradient tape and a tidy scope. */
  loss(batch: ObjectiveBatch): ObjectiveOutput;
}
