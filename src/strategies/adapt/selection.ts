/**
 * Choosing an adapted model without target labels: Deep Embedded Validation (You et al. 2019,
 * "Towards accurate model selection in deep unsupervised domain adaptation"). Source validation
 * losses are importance-weighted by the density ratio w(x) = p_target(x) / p_source(x), estimated
 * by a domain classifier, and a control variate (E[w] = 1) cuts the variance of that estimate:
 *
 *   L_i = w_i·ℓ_i (ℓ: 0/1 error),   η = −Cov(L, w) / Var(w),   DEV = mean(L) + η·mean(w) − η   (lower is better).
 *
 * The density ratios come from a domain classifier on the representation of the method being
 * validated (DEV's "embedded" part). Also Soft Neighbourhood Density (Saito et al. 2021) on the
 * target predictions alone, and their mean entropy: two criteria reported beside DEV.
 */
import { argmaxRows } from './pseudo.js';

/** Density ratios from a domain classifier's P(target | x) on source validation rows (DEV's get_weight). */
export function densityRatios(pTarget: ArrayLike<number>, nSource: number, nTarget: number, clip = 1e-4): Float64Array {
  const w = new Float64Array(pTarget.length);
  const prior = nSource / Math.max(1, nTarget);
  for (let i = 0; i < w.length; i++) {
    const p = Math.min(1 - clip, Math.max(clip, pTarget[i]));
    w[i] = (p / (1 - p)) * prior;
  }
  return w;
}

/** The DEV risk of per-row losses `loss` under importance weights `w` (lower is better). */
export function devRisk(loss: ArrayLike<number>, w: ArrayLike<number>): { risk: number; eta: number; weightedMean: number } {
  const n = loss.length;
  if (n < 2 || w.length !== n) throw new Error(`DEV needs at least 2 validation rows with one weight each, got ${n} losses and ${w.length} weights`);
  let mL = 0;
  let mW = 0;
  for (let i = 0; i < n; i++) {
    mL += w[i] * loss[i];
    mW += w[i];
  }
  mL /= n;
  mW /= n;
  let cov = 0;
  let varW = 0;
  for (let i = 0; i < n; i++) {
    const dl = w[i] * loss[i] - mL;
    const dw = w[i] - mW;
    cov += dl * dw;
    varW += dw * dw;
  }
  cov /= n - 1;
  varW /= n - 1;
  const eta = varW > 1e-12 ? -cov / varW : 0;
  return { risk: mL + eta * mW - eta, eta, weightedMean: mL };
}

/**
 * Per-row 0/1 error of an n×k probability matrix: the loss DEV weights. (Cross-entropy would
 * compare calibration rather than accuracy across head families — an MLP head's confident
 * log-loss beat every linear head's on both benchmark pairs whatever its target accuracy.)
 */
export function rowErrors(probs: Float32Array, y: ArrayLike<number>, k: number): Float64Array {
  const { label } = argmaxRows(probs, y.length, k);
  return Float64Array.from(label, (l, i) => (l === y[i] ? 0 : 1));
}

/** Per-row cross-entropy −log p(y) of an n×k probability matrix. */
export function rowLosses(probs: Float32Array, y: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = -Math.log(Math.max(1e-12, probs[i * k + y[i]]));
  return out;
}

/** Mean entropy (nats) of the rows of an n×k probability matrix. */
export function meanEntropy(probs: Float32Array, n: number, k: number): number {
  let h = 0;
  for (let i = 0; i < n * k; i++) if (probs[i] > 0) h -= probs[i] * Math.log(probs[i]);
  return h / Math.max(1, n);
}

/**
 * Information maximisation (IM; the objective of SHOT, Liang et al. 2020, scored as a validator by
 * Musgrave et al. 2022): H(mean prediction) − mean H(prediction), in nats. High when each target
 * row is confident *and* the predicted classes are spread (a head that sends the whole target to
 * one class scores low however confident it is). Higher is better; at most log k.
 */
export function informationMaximization(probs: Float32Array, n: number, k: number): number {
  const mean = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) mean[j] += probs[i * k + j] / n;
  let h = 0;
  for (const p of mean) if (p > 0) h -= p * Math.log(p);
  return h - meanEntropy(probs, n, k);
}

/**
 * Batch nuclear-norm (BNM; Cui et al. 2020, proposed as a validator by Musgrave et al. 2022): the
 * nuclear norm of the n×k target prediction matrix divided by n — the sum of its singular values,
 * i.e. of the square roots of the eigenvalues of PᵀP (k×k, Jacobi rotations). Large when the
 * predictions are confident and span many classes. Higher is better.
 */
export function batchNuclearNorm(probs: Float32Array, n: number, k: number): number {
  const a = new Float64Array(k * k);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < k; r++) {
      const pr = probs[i * k + r];
      if (pr !== 0) for (let c = 0; c < k; c++) a[r * k + c] += pr * probs[i * k + c];
    }
  const eig = symmetricEigenvalues(a, k);
  let s = 0;
  for (const l of eig) s += Math.sqrt(Math.max(0, l));
  return s / Math.max(1, n);
}

/** Eigenvalues of a symmetric k×k matrix (row-major, overwritten) by cyclic Jacobi rotations. */
export function symmetricEigenvalues(a: Float64Array, k: number): Float64Array {
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p * k + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < k; p++)
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p];
          const arq = a[r * k + q];
          a[r * k + p] = c * arp - sn * arq;
          a[r * k + q] = sn * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r];
          const aqr = a[q * k + r];
          a[p * k + r] = c * apr - sn * aqr;
          a[q * k + r] = sn * apr + c * aqr;
        }
      }
  }
  return Float64Array.from({ length: k }, (_, i) => a[i * k + i]);
}

/**
 * EnsV (Hu, Luo, Liang & Foo 2024, "Towards reliable model selection for unsupervised domain
 * adaptation"): the candidates' target probabilities averaged into an ensemble, and each candidate
 * scored by the share of target rows where its arg-max equals the ensemble's. Needs the whole pool;
 * higher is better. Ties in an arg-max go to the lower class index.
 */
export function ensembleAgreement(pool: Float32Array[], n: number, k: number): number[] {
  if (!pool.length) return [];
  const mean = new Float64Array(n * k);
  for (const p of pool) for (let i = 0; i < n * k; i++) mean[i] += p[i];
  const arg = (p: ArrayLike<number>, i: number) => {
    let b = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + b]) b = j;
    return b;
  };
  const ens = Int32Array.from({ length: n }, (_, i) => arg(mean, i));
  return pool.map((p) => {
    let same = 0;
    for (let i = 0; i < n; i++) if (arg(p, i) === ens[i]) same++;
    return same / Math.max(1, n);
  });
}

/**
 * Soft Neighbourhood Density (Saito et al. 2021, "Tune it the right way"): the target predictions'
 * rows are L2-normalised, their pairwise similarities (self excluded) turned into a softmax per
 * row at temperature `t` (the paper's 0.05), and SND is the mean entropy of those rows — higher
 * when the target predictions form dense, consistent neighbourhoods (higher is better). At most
 * `maxRows` rows are used (an even subsample), so the n² similarities stay small.
 */
export function softNeighbourhoodDensity(probs: Float32Array, n: number, k: number, t = 0.05, maxRows = 1500): number {
  if (n < 2) throw new Error(`SND needs at least 2 target rows, got ${n}`);
  const m = Math.min(n, maxRows);
  const v = new Float64Array(m * k);
  for (let a = 0; a < m; a++) {
    const i = Math.floor((a * n) / m);
    let norm = 0;
    for (let j = 0; j < k; j++) norm += probs[i * k + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < k; j++) v[a * k + j] = probs[i * k + j] / norm;
  }
  const s = new Float64Array(m);
  let total = 0;
  for (let a = 0; a < m; a++) {
    let max = -Infinity;
    for (let b = 0; b < m; b++) {
      if (b === a) continue;
      let dot = 0;
      for (let j = 0; j < k; j++) dot += v[a * k + j] * v[b * k + j];
      s[b] = dot / t;
      if (s[b] > max) max = s[b];
    }
    let z = 0;
    for (let b = 0; b < m; b++) if (b !== a) z += Math.exp(s[b] - max);
    let h = 0;
    for (let b = 0; b < m; b++) {
      if (b === a) continue;
      const p = Math.exp(s[b] - max) / z;
      if (p > 0) h -= p * Math.log(p);
    }
    total += h;
  }
  return total / m;
}
