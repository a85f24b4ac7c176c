/**
 * SimCLR's NT-Xent loss (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations", eq. 1): for a batch of m images seen in two views, z₁ and z₂ ([m, d]
 * projections), the 2m L2-normalised rows are compared by cosine similarity / τ; row i's positive
 * is the other view of the same image and the 2(m−1) other rows are its negatives:
 *
 *   ℓ(i) = −log( exp(s(i, p(i))/τ) / Σ_{k≠i} exp(s(i, k)/τ) ),  loss = mean over the 2m rows.
 *
 * `top1` is the share of rows whose most similar other row is their positive (a contrastive
 * accuracy worth watching: it rises as the representation learns the views' invariances).
 */
import { tf } from '../../engine/tfjs.js';

export interface NtXent {
  loss: tf.Scalar;
  top1: tf.Scalar;
}

/** NT-Xent of two views' projections (differentiable in both). */
export function ntXent(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): NtXent {
  if (!(temperature > 0)) throw new Error(`NT-Xent temperature must be > 0, got ${temperature}`);
  const m = z1.shape[0];
  if (z2.shape[0] !== m || z2.shape[1] !== z1.shape[1]) throw new Error(`NT-Xent: views of shape [${z1.shape}] and [${z2.shape}] do not pair up`);
  // One image alone has no negatives: its loss is 0 (log of a softmax over its positive alone).
  if (m < 1) throw new Error('NT-Xent: an empty batch');
  return tf.tidy(() => {
    const z = tf.concat([z1, z2], 0);
    const zn = tf.div(z, tf.maximum(tf.norm(z, 'euclidean', 1, true), 1e-12));
    // Self-similarity is removed by a large negative on the diagonal (exp of it is 0 in float32).
    const sim = tf.sub(tf.div(tf.matMul(zn, zn, false, true), temperature), tf.mul(tf.eye(2 * m), 1e9));
    const pos = tf.concat([tf.range(m, 2 * m, 1, 'int32'), tf.range(0, m, 1, 'int32')]);
    const logp = tf.logSoftmax(sim);
    const picked = tf.sum(tf.mul(logp, tf.oneHot(pos, 2 * m)), 1);
    const loss = tf.neg(tf.mean(picked)) as tf.Scalar;
    const top1 = tf.mean(tf.cast(tf.equal(tf.argMax(sim, 1), pos), 'float32')) as tf.Scalar;
    return { loss, top1 };
  });
}
