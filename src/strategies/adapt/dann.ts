/**
 * DANN (Ganin et al. 2016, "Domain-adversarial training of neural networks") as a Trainer
 * objective. The model's hidden representation of a source batch and of an equally large target
 * batch goes through a gradient-reversal layer into a domain discriminator: the discriminator
 * learns to tell the domains apart, the feature extractor (reversed gradient) learns features it
 * cannot, while the classifier learns the source labels.
 *
 *   loss = CE(source logits, labels) + BCE(D(R_λ(h_s)), 0) + BCE(D(R_λ(h_t)), 1)
 *   λ(p) = 2 / (1 + exp(−γp)) − 1 (γ = 10),   lr(p) = lr₀ / (1 + αp)^β (α = 10, β = 0.75)
 *
 * where p ∈ [0, 1) is training progress and R_λ is the identity forwards and −λ· backwards.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { Objective, ObjectiveBatch } from '../../train/objective.js';
import { TargetBatches, type TargetRows } from './target-batch.js';
import { tfSeed } from '../../util/rng.js';

/** Identity forwards, gradient multiplied by −λ backwards. */
export function gradReverse(x: tf.Tensor, lambda: number): tf.Tensor {
  const f = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return { value: tf.clone(a), gradFunc: (dy: tf.Tensor) => tf.mul(dy, -lambda) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/** DANN's adaptation-factor ramp: 0 at the start, → 1 as progress → 1. */
export const dannLambda = (p: number, gamma = 10): number => 2 / (1 + Math.exp(-gamma * p)) - 1;

/** DANN's learning-rate annealing, as a Trainer `lrAt`. */
export function dannLr(lr0: number, alpha = 10, beta = 0.75): (step: number, total: number) => number {
  return (step, total) => lr0 / Math.pow(1 + (alpha * step) / Math.max(1, total), beta);
}

/** Width of the representation a model's classifier (its last layer) reads. */
export function representationDim(model: tfl.LayersModel): number {
  const shape = model.layers[model.layers.length - 1].inputSpec?.[0]?.shape ?? (model.layers[model.layers.length - 1].input as tfl.SymbolicTensor).shape;
  const d = shape[shape.length - 1];
  if (typeof d !== 'number') throw new Error('cannot tell the width of the representation before the classifier');
  return d;
}

/** The domain discriminator: an MLP from the representation to one logit (target = 1). */
export function buildDiscriminator(inputDim: number, hidden = 256, seed = 0): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: tfSeed(seed + s) });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [inputDim], units: hidden, activation: 'relu', kernelInitializer: init(1), name: 'domain_hidden' }),
      tfl.layers.dense({ units: 1, kernelInitializer: init(2), name: 'domain_logit' }),
    ],
  });
}

/** Mean binary cross-entropy of logits z against a constant target y ∈ {0, 1}, stable form. */
export function bceWithLogits(z: tf.Tensor, y: 0 | 1): tf.Scalar {
  return tf.tidy(() => {
    const zy = y === 1 ? z : tf.zerosLike(z);
    return tf.mean(tf.add(tf.sub(tf.relu(z), zy), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))) as tf.Scalar;
  });
}

/** Split a head into its representation (every layer but the last) and its classifier (the last). */
export function representationAndLogits(model: tfl.LayersModel, x: tf.Tensor2D, training: boolean): { h: tf.Tensor2D; logits: tf.Tensor2D } {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  if (layers.length < 2) throw new Error('DANN needs a representation before the classifier: a head with a hidden layer (mlp) or a fine-tuned tail');
  let h: tf.Tensor = x;
  for (const l of layers.slice(0, -1)) h = l.apply(h, { training }) as tf.Tensor;
  const logits = layers[layers.length - 1].apply(h, { training }) as tf.Tensor2D;
  return { h: h as tf.Tensor2D, logits };
}

export interface DannOptions {
  /** Target rows (already in the model's input space, e.g. standardised like the source). */
  target: TargetRows;
  discriminator: tfl.LayersModel;
  seed?: number;
  /** Weight of the domain loss (default 1) and the λ ramp's γ (default 10). */
  domainWeight?: number;
  gamma?: number;
}

/** The DANN objective; each step's target batch is as large as its source batch. */
export function dannObjective(o: DannOptions): Objective {
  const { discriminator } = o;
  const seed = o.seed ?? 0;
  const weight = o.domainWeight ?? 1;
  const batches = new TargetBatches(o.target, seed);
  let lambda = 0;
  return {
    name: 'dann',
    modules: [discriminator],
    fingerprint: { seed, domainWeight: weight, gamma: o.gamma ?? 10, targetRows: o.target.n },
    beforeStep: (info) => {
      batches.draw(info);
      lambda = dannLambda(info.progress, o.gamma);
    },
    end: () => batches.end(),
    loss: (b: ObjectiveBatch) => {
      const s = representationAndLogits(b.model, b.x, true);
      const t = representationAndLogits(b.model, batches.current, true);
      const ce = b.crossEntropy(s.logits, b.labels);
      const zs = discriminator.apply(gradReverse(s.h, lambda), { training: true }) as tf.Tensor2D;
      const zt = discriminator.apply(gradReverse(t.h, lambda), { training: true }) as tf.Tensor2D;
      const domain = tf.mul(tf.add(bceWithLogits(zs, 0), bceWithLogits(zt, 1)), 0.5) as tf.Scalar;
      const hits = tf.add(tf.sum(tf.cast(tf.less(zs, 0), 'float32')), tf.sum(tf.cast(tf.greater(zt, 0), 'float32')));
      const domainAccuracy = tf.div(hits, zs.shape[0] + zt.shape[0]) as tf.Scalar;
      const loss = tf.add(ce, tf.mul(domain, weight)) as tf.Scalar;
      return { loss, logits: s.logits, terms: { ce, domain, domainAccuracy, lambda: tf.scalar(lambda) } };
    },
  };
}
