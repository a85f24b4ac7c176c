/**
 * CORAL (Sun, Feng & Saenko 2016, "Return of frustratingly easy domain adaptation"): align the
 * second-order statistics of the source features with the target's, in closed form. Source rows
 * are whitened with their own regularised covariance and re-coloured with the target's,
 *   x̃ = (x − μs) · Cs^(−1/2) · Ct^(1/2) + μt,   C = cov + λ·(tr(cov)/d)·I,
 * a head is fitted on the re-coloured source rows, and target rows go into it untouched (so the
 * adapted bundle is an ordinary one). Also the Deep CORAL loss (Sun & Saenko 2016) for a trained
 * feature extractor: ‖Cs − Ct‖²_F / (4d²) on a batch.
 *
 * Matrix square roots come from the coupled Newton–Schulz iteration (matrix products only, so
 * the 1280×1280 case runs in tfjs's GEMM in seconds, where a Jacobi eigensolver takes ~20 s).
 */
import { tf } from '../../engine/tfjs.js';

/** Column means and the unbiased covariance of an n×d row-major matrix, as tensors. */
export function meanAndCovariance(x: Float32Array, n: number, d: number): { mean: tf.Tensor1D; cov: tf.Tensor2D } {
  if (n < 2) throw new Error(`covariance needs at least 2 rows, got ${n}`);
  return tf.tidy(() => {
    const X = tf.tensor2d(x.subarray(0, n * d), [n, d]);
    const mean = tf.mean(X, 0) as tf.Tensor1D;
    const Xc = tf.sub(X, mean);
    const cov = tf.div(tf.matMul(Xc, Xc, true, false), n - 1) as tf.Tensor2D;
    return { mean, cov };
  });
}

/** Batch covariance of a [m, d] tensor (differentiable; for the Deep CORAL loss). */
export function batchCovariance(h: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const m = h.shape[0];
    const hc = tf.sub(h, tf.mean(h, 0));
    return tf.div(tf.matMul(hc, hc, true, false), Math.max(1, m - 1)) as tf.Tensor2D;
  });
}

/** Deep CORAL: ‖cov(hs) − cov(ht)‖²_F / (4d²). */
export function coralLoss(hs: tf.Tensor2D, ht: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const d = hs.shape[1];
    const diff = tf.sub(batchCovariance(hs), batchCovariance(ht));
    return tf.div(tf.sum(tf.square(diff)), 4 * d * d) as tf.Scalar;
  });
}

/** Add λ·(tr(C)/d)·I: a ridge relative to the mean variance, so λ means the same at any scale. */
export function regularise(cov: tf.Tensor2D, lambda: number): tf.Tensor2D {
  return tf.tidy(() => {
    const d = cov.shape[0];
    const meanVar = tf.div(tf.sum(tf.mul(cov, tf.eye(d))), d);
    const ridge = tf.mul(tf.eye(d), tf.mul(meanVar, lambda));
    return tf.add(cov, ridge) as tf.Tensor2D;
  });
}

/**
 * A^(1/2) and A^(−1/2) of a symmetric positive-definite matrix by the coupled Newton–Schulz
 * iteration (Higham 2008, §6.3): with Y₀ = A/c, Z₀ = I, T = (3I − ZY)/2, Y ← YT, Z ← TZ, Y → (A/c)^(1/2)
 * and Z → (A/c)^(−1/2). c = ‖A‖_F puts every eigenvalue in (0, 1], where it converges.
 */
export function sqrtAndInvSqrt(a: tf.Tensor2D, opts: { maxIter?: number; tol?: number } = {}): { sqrt: tf.Tensor2D; invSqrt: tf.Tensor2D; iterations: number } {
  const maxIter = opts.maxIter ?? 60;
  const tol = opts.tol ?? 1e-6;
  const d = a.shape[0];
  const c = tf.tidy(() => tf.norm(a).dataSync()[0]);
  if (!(c > 0) || !Number.isFinite(c)) throw new Error('matrix square root: the matrix is zero or not finite');
  const I = tf.eye(d);
  let Y = tf.tidy(() => tf.div(a, c)) as tf.Tensor2D;
  let Z = tf.eye(d) as tf.Tensor2D;
  let it = 0;
  try {
    for (; it < maxIter; it++) {
      const [Yn, Zn, delta] = tf.tidy(() => {
        const T = tf.mul(tf.sub(tf.mul(I, 3), tf.matMul(Z, Y)), 0.5);
        const Yn = tf.matMul(Y, T);
        const Zn = tf.matMul(T, Z);
        // ‖T − I‖ measures the remaining correction (0 at the fixed point).
        const delta = tf.div(tf.norm(tf.sub(T, I)), Math.sqrt(d));
        return [Yn, Zn, delta] as [tf.Tensor2D, tf.Tensor2D, tf.Scalar];
      });
      Y.dispose();
      Z.dispose();
      Y = Yn;
      Z = Zn;
      const dv = delta.dataSync()[0];
      delta.dispose();
      if (!Number.isFinite(dv)) throw new Error('matrix square root diverged (the matrix is not positive definite?)');
      if (dv < tol) {
        it++;
        break;
      }
    }
    const sqrt = tf.tidy(() => tf.mul(Y, Math.sqrt(c))) as tf.Tensor2D;
    const invSqrt = tf.tidy(() => tf.div(Z, Math.sqrt(c))) as tf.Tensor2D;
    return { sqrt, invSqrt, iterations: it };
  } finally {
    Y.dispose();
    Z.dispose();
    I.dispose();
  }
}

/** The affine map x ↦ (x − μs)·A + μt that gives source rows the target's mean and covariance. */
export interface CoralMap {
  dim: number;
  /** d×d, row-major. */
  matrix: Float32Array;
  sourceMean: Float32Array;
  targetMean: Float32Array;
  lambda: number;
  iterations: number;
}

/** Fit CORAL from source and target rows (n×d each). `lambda`: relative ridge (default 1, as the paper's λ = 1 on unit-variance features). */
export function fitCoral(source: { x: Float32Array; n: number }, target: { x: Float32Array; n: number }, d: number, lambda = 1): CoralMap {
  const s = meanAndCovariance(source.x, source.n, d);
  const t = meanAndCovariance(target.x, target.n, d);
  const cs = regularise(s.cov, lambda);
  const ct = regularise(t.cov, lambda);
  s.cov.dispose();
  t.cov.dispose();
  try {
    const rs = sqrtAndInvSqrt(cs);
    const rt = sqrtAndInvSqrt(ct);
    const A = tf.matMul(rs.invSqrt, rt.sqrt);
    const matrix = A.dataSync() as Float32Array;
    [A, rs.sqrt, rs.invSqrt, rt.sqrt, rt.invSqrt].forEach((x) => x.dispose());
    return { dim: d, matrix: Float32Array.from(matrix), sourceMean: s.mean.dataSync() as Float32Array, targetMean: t.mean.dataSync() as Float32Array, lambda, iterations: Math.max(rs.iterations, rt.iterations) };
  } finally {
    [cs, ct, s.mean, t.mean].forEach((x) => x.dispose());
  }
}

/** Apply a CORAL map to n rows (a new array; chunked so the tfjs heap stays small). */
export function applyCoral(map: CoralMap, x: Float32Array, n: number, chunk = 1024): Float32Array {
  const d = map.dim;
  const out = new Float32Array(n * d);
  const A = tf.tensor2d(map.matrix, [d, d]);
  const ms = tf.tensor1d(map.sourceMean);
  const mt = tf.tensor1d(map.targetMean);
  try {
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const y = tf.tidy(() => tf.add(tf.matMul(tf.sub(tf.tensor2d(x.subarray(s * d, e * d), [e - s, d]), ms), A), mt));
      out.set(y.dataSync() as Float32Array, s * d);
      y.dispose();
    }
  } finally {
    [A, ms, mt].forEach((t) => t.dispose());
  }
  return out;
}
