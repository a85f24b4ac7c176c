/**
 * Domain Separation Networks (Bousmalis et al. 2016) on feature rows, as a Trainer objective.
 *
 * The Trainer's model is the shared encoder plus the classifier (its hidden layers are the shared
 * code h_c, its last layer reads it): that model is the bundle. The objective brings the rest as
 * modules — one private encoder per domain (h_p), a shared decoder that rebuilds each row from
 * h_c + h_p, and a domain discriminator on the shared code behind gradient reversal:
 *
 *   L = L_task(source) + α·L_recon + β·L_difference + γ·L_similarity
 *   L_recon      = scale-invariant MSE of x and D(h_c + h_p), both domains
 *   L_difference = ‖H_cᵀ H_p‖²_F per domain (rows centred and L2-normalised, mean over entries)
 *   L_similarity = the DANN domain loss on R_λ(h_c) (λ ramped 0 → 1), or the MMD² of the two
 *                  domains' shared codes under a multi-bandwidth Gaussian kernel (DSN's other choice)
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { Objective, ObjectiveBatch } from '../../train/objective.js';
import { bceWithLogits, buildDiscriminator, dannLambda, gradReverse, representationAndLogits } from '../adapt/dann.js';
import { TargetBatches, type TargetRows } from '../adapt/target-batch.js';
import { tfSeed } from '../../util/rng.js';

/**
 * Scale-invariant MSE (Eigen et al. 2014, DSN eq. 3) per row, averaged over rows:
 * (1/k)‖d‖² − (1/k²)(d·1)², d = x − x̂ — a shift of a whole row costs nothing.
 */
export function scaleInvariantMse(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const d = tf.sub(x, xHat);
    const k = x.shape[1];
    const sq = tf.div(tf.sum(tf.square(d), 1), k);
    const sh = tf.div(tf.square(tf.sum(d, 1)), k * k);
    return tf.mean(tf.sub(sq, sh)) as tf.Scalar;
  });
}

/**
 * The soft orthogonality constraint ‖H_cᵀ H_p‖²_F between the shared and private codes of one
 * batch (rows = samples), as DSN's reference code computes it: each code's columns centred over
 * the batch, each row L2-normalised, then the mean of the squared cross-correlations. Zero when
 * the two codes are orthogonal over the batch; 1 at most.
 */
export function differenceLoss(shared: tf.Tensor2D, priv: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const norm = (h: tf.Tensor2D) => {
      const c = tf.sub(h, tf.mean(h, 0, true));
      return tf.div(c, tf.add(tf.norm(c, 'euclidean', 1, true), 1e-6));
    };
    const corr = tf.matMul(norm(priv), norm(shared), true, false);
    return tf.mean(tf.square(corr)) as tf.Scalar;
  });
}

/** Identity forwards, no gradient backwards (a kernel bandwidth read off the batch). */
function stopGradient(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return { value: tf.clone(a), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/** Bandwidth multipliers of the MMD kernel, around the batch's mean squared distance. */
export const MMD_SCALES = [0.25, 0.5, 1, 2, 4];

/**
 * Biased MMD² between two batches (Gretton et al. 2012) under k(a, b) = Σ_s exp(−‖a − b‖² / (s·m)),
 * m the mean squared pairwise distance of the pooled batch (no gradient through m), averaged over
 * the scales: mean k(x, x') + mean k(y, y') − 2 mean k(x, y). Zero for identical batches.
 */
export function mmd2(x: tf.Tensor2D, y: tf.Tensor2D, scales = MMD_SCALES): tf.Scalar {
  return tf.tidy(() => {
    const z = tf.concat([x, y], 0);
    const sq = tf.sum(tf.square(z), 1, true);
    const d2 = tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(tf.matMul(z, z, false, true), 2)));
    const n = z.shape[0];
    const m = stopGradient(tf.add(tf.div(tf.sum(d2), n * n - n), 1e-6));
    const k = tf.div(tf.addN(scales.map((s) => tf.exp(tf.neg(tf.div(d2, tf.mul(m, s)))))), scales.length);
    const nx = x.shape[0];
    const kxx = tf.mean(tf.slice(k, [0, 0], [nx, nx]));
    const kyy = tf.mean(tf.slice(k, [nx, nx], [n - nx, n - nx]));
    const kxy = tf.mean(tf.slice(k, [0, nx], [nx, n - nx]));
    return tf.sub(tf.add(kxx, kyy), tf.mul(kxy, 2)) as tf.Scalar;
  });
}

/** An MLP encoder/decoder: widths[0] inputs, ReLU hidden layers, the last layer ReLU too unless `linearOut`. */
export function buildMlp(name: string, widths: number[], seed: number, linearOut = false): tfl.Sequential {
  const layers = widths.slice(1).map((units, i) =>
    tfl.layers.dense({
      ...(i === 0 ? { inputShape: [widths[0]!] } : {}),
      units,
      activation: linearOut && i === widths.length - 2 ? 'linear' : 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed(seed + i) }),
      name: `${name}_${i}`,
    }),
  );
  return tfl.sequential({ name, layers });
}

export interface DsnModules {
  privateSource: tfl.LayersModel;
  privateTarget: tfl.LayersModel;
  decoder: tfl.LayersModel;
  discriminator: tfl.LayersModel;
}

/** The DSN modules for rows of `dim` features, a hidden width and a code width (that of the shared code). */
export function buildDsnModules(dim: number, hidden: number, code: number, seed: number): DsnModules {
  return {
    privateSource: buildMlp('private_source', [dim, hidden, code], seed + 10),
    privateTarget: buildMlp('private_target', [dim, hidden, code], seed + 20),
    decoder: buildMlp('shared_decoder', [code, hidden, dim], seed + 30, true),
    discriminator: buildDiscriminator(code, 256, seed + 40),
  };
}

export interface DsnWeights {
  /** α: reconstruction (default 0.1). */
  recon?: number;
  /** β: difference (default 0.1). */
  difference?: number;
  /** γ: similarity, the MMD² (or DANN domain loss) of the shared codes (default 1). */
  similarity?: number;
}

export const DSN_DEFAULTS: Required<DsnWeights> = { recon: 0.1, difference: 0.1, similarity: 1 };

export type SimilarityLoss = 'dann' | 'mmd';

export interface DsnOptions extends DsnWeights {
  /** How the shared codes of the two domains are made alike (default 'mmd'). */
  similarityLoss?: SimilarityLoss;
  /** Target rows in the model's input space (standardised like the source). */
  target: TargetRows;
  modules: DsnModules;
  seed?: number;
  /** γ of the λ ramp (default 10). */
  gamma?: number;
}

/** The four DSN losses of a source batch and an equally large target batch. */
export function dsnLosses(model: tfl.LayersModel, m: DsnModules, xs: tf.Tensor2D, xt: tf.Tensor2D, lambda: number, training: boolean, similarityLoss: SimilarityLoss = 'dann') {
  const s = representationAndLogits(model, xs, training);
  const t = representationAndLogits(model, xt, training);
  const ps = m.privateSource.apply(xs, { training }) as tf.Tensor2D;
  const pt = m.privateTarget.apply(xt, { training }) as tf.Tensor2D;
  const rs = m.decoder.apply(tf.add(s.h, ps), { training }) as tf.Tensor2D;
  const rt = m.decoder.apply(tf.add(t.h, pt), { training }) as tf.Tensor2D;
  const recon = tf.mul(tf.add(scaleInvariantMse(xs, rs), scaleInvariantMse(xt, rt)), 0.5) as tf.Scalar;
  const difference = tf.add(differenceLoss(s.h, ps), differenceLoss(t.h, pt)) as tf.Scalar;
  // With MMD the discriminator still learns (λ = 0: nothing flows back into the encoder), as a monitor.
  const rev = similarityLoss === 'mmd' ? 0 : lambda;
  const zs = m.discriminator.apply(gradReverse(s.h, rev), { training }) as tf.Tensor2D;
  const zt = m.discriminator.apply(gradReverse(t.h, rev), { training }) as tf.Tensor2D;
  const adversarial = tf.mul(tf.add(bceWithLogits(zs, 0), bceWithLogits(zt, 1)), 0.5) as tf.Scalar;
  const similarity = similarityLoss === 'mmd' ? mmd2(s.h, t.h) : adversarial;
  const hits = tf.add(tf.sum(tf.cast(tf.less(zs, 0), 'float32')), tf.sum(tf.cast(tf.greater(zt, 0), 'float32')));
  const domainAccuracy = tf.div(hits, zs.shape[0] + zt.shape[0]) as tf.Scalar;
  return { logits: s.logits, recon, difference, similarity, adversarial, domainAccuracy };
}

/** The DSN objective: the model's shared code classifies the source; the modules separate and rebuild. */
export function dsnObjective(o: DsnOptions): Objective {
  const w = { ...DSN_DEFAULTS, ...Object.fromEntries(Object.entries({ recon: o.recon, difference: o.difference, similarity: o.similarity }).filter(([, v]) => v !== undefined)) };
  for (const [k, v] of Object.entries(w)) if (!(Number.isFinite(v) && v >= 0)) throw new Error(`disentangle: the ${k} weight must be a number ≥ 0, got ${v}`);
  const seed = o.seed ?? 0;
  const kind = o.similarityLoss ?? 'mmd';
  if (kind !== 'dann' && kind !== 'mmd') throw new Error(`disentangle: the similarity loss is dann or mmd, got ${String(kind)}`);
  const batches = new TargetBatches(o.target, seed);
  const { privateSource, privateTarget, decoder, discriminator } = o.modules;
  let lambda = 0;
  return {
    name: 'dsn',
    modules: [privateSource, privateTarget, decoder, discriminator],
    fingerprint: { seed, ...w, similarityLoss: kind, gamma: o.gamma ?? 10, targetRows: o.target.n },
    beforeStep: (info) => {
      batches.draw(info);
      lambda = dannLambda(info.progress, o.gamma);
    },
    end: () => batches.end(),
    loss: (b: ObjectiveBatch) => {
      const l = dsnLosses(b.model, o.modules, b.x, batches.current, lambda, true, kind);
      const ce = b.crossEntropy(l.logits, b.labels);
      const parts = [ce, tf.mul(l.recon, w.recon), tf.mul(l.difference, w.difference), tf.mul(l.similarity, w.similarity)];
      if (kind === 'mmd') parts.push(l.adversarial); // trains the monitoring discriminator only
      const loss = tf.addN(parts) as tf.Scalar;
      return { loss, logits: l.logits, terms: { ce, recon: l.recon, difference: l.difference, similarity: l.similarity, domainAccuracy: l.domainAccuracy, lambda: tf.scalar(lambda) } };
    },
  };
}
