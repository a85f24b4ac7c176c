/**
 * Row preparation for clustering: L2 normalisation and PCA (optionally whitened). PCA is the
 * randomized range finder of Halko, Martinsson & Tropp (2011) — a Gaussian sketch, a few power
 * iterations with re-orthonormalisation, then an exact eigen-decomposition (Jacobi) of the small
 * projected matrix — so 10,000 × 1280 rows need a few passes over the data, not a d×d covariance.
 */
import { gemmABt } from '../../engine/kernels/gemm.js';
import { rng } from '../../util/rng.js';

/** Scale every row to unit Euclidean length (zero rows stay zero), in place. */
export function l2NormalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = i * d; t < (i + 1) * d; t++) s += x[t] * x[t];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let t = i * d; t < (i + 1) * d; t++) x[t] *= inv;
  }
  return x;
}

/**
 * Eigen-decomposition of a symmetric m×m matrix by cyclic Jacobi rotations. Returns eigenvalues
 * (descending) and the matching eigenvectors as the columns of an m×m row-major matrix.
 */
export function symmetricEigen(a: Float64Array, m: number, sweeps = 100): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(m * m);
  for (let i = 0; i < m; i++) V[i * m + i] = 1;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < m; i++) {
      diag += A[i * m + i] ** 2;
      for (let j = i + 1; j < m; j++) off += A[i * m + j] ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = A[p * m + q];
        if (apq === 0) continue;
        const theta = (A[q * m + q] - A[p * m + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < m; k++) {
          // A ← Jᵀ A J, applied to rows/columns p and q.
          const akp = A[k * m + p];
          const akq = A[k * m + q];
          A[k * m + p] = c * akp - s * akq;
          A[k * m + q] = s * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = A[p * m + k];
          const aqk = A[q * m + k];
          A[p * m + k] = c * apk - s * aqk;
          A[q * m + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = V[k * m + p];
          const vkq = V[k * m + q];
          V[k * m + p] = c * vkp - s * vkq;
          V[k * m + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((i, j) => A[j * m + j] - A[i * m + i]);
  const values = Float64Array.from(order, (i) => A[i * m + i]);
  const vectors = new Float64Array(m * m);
  order.forEach((src, dst) => {
    for (let k = 0; k < m; k++) vectors[k * m + dst] = V[k * m + src];
  });
  return { values, vectors };
}

/** Orthonormalise the l columns of an r×l row-major matrix in place (Gram–Schmidt, twice for stability). */
function orthonormalizeColumns(y: Float64Array, r: number, l: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < l; j++) {
      for (let q = 0; q < j; q++) {
        let dot = 0;
        for (let i = 0; i < r; i++) dot += y[i * l + j] * y[i * l + q];
        for (let i = 0; i < r; i++) y[i * l + j] -= dot * y[i * l + q];
      }
      let nrm = 0;
      for (let i = 0; i < r; i++) nrm += y[i * l + j] ** 2;
      nrm = Math.sqrt(nrm);
      for (let i = 0; i < r; i++) y[i * l + j] = nrm > 1e-12 ? y[i * l + j] / nrm : 0;
    }
  }
}

export interface Pca {
  d: number;
  /** Number of components kept. */
  dims: number;
  mean: Float64Array;
  /** dims×d row-major, unit-length principal directions (largest variance first). */
  components: Float64Array;
  /** Variance along each component. */
  variances: Float64Array;
  /** Total variance of the data (the explained share is Σ variances / total). */
  totalVariance: number;
}

/** X − μ (n×d), and with `transpose` also its transpose (d×n). */
function centred(x: Float32Array, n: number, d: number, mean: Float64Array, transpose = false): { a: Float32Array; at: Float32Array } {
  const a = new Float32Array(n * d);
  const at = new Float32Array(transpose ? n * d : 0);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) {
      const v = x[i * d + t] - mean[t];
      a[i * d + t] = v;
      if (transpose) at[t * n + i] = v;
    }
  }
  return { a, at };
}

/** r×l row-major float64 → its transpose (l×r) as float32, the layout gemmABt takes for B. */
function transposed32(y: Float64Array, r: number, l: number): Float32Array {
  const out = new Float32Array(r * l);
  for (let i = 0; i < r; i++) for (let j = 0; j < l; j++) out[j * r + i] = y[i * l + j];
  return out;
}

/** Top `dims` principal components of n×d rows (randomized; exact when dims + oversample ≥ rank). */
export function fitPca(x: Float32Array, n: number, d: number, dims: number, o: { seed?: number; powerIterations?: number; oversample?: number } = {}): Pca {
  if (!Number.isInteger(dims) || dims < 1 || dims > Math.min(n, d)) throw new Error(`PCA: dims must be an integer from 1 to ${Math.min(n, d)} (rows and features), got ${dims}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= n;
  let totalVariance = 0;
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) totalVariance += (x[i * d + t] - mean[t]) ** 2;
  totalVariance /= Math.max(1, n - 1);
  const l = Math.min(dims + (o.oversample ?? 10), d, n);
  const rand = rng(o.seed ?? 0);
  const { a, at } = centred(x, n, d, mean, true);
  // Ωᵀ: l×d Gaussian. Y = A Ω (n×l), then power iterations Z = Aᵀ Y (d×l), Y = A Z.
  const omegaT = new Float32Array(l * d);
  for (let i = 0; i < omegaT.length; i++) omegaT[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  let y = Float64Array.from(gemmABt(a, omegaT, n, d, l));
  orthonormalizeColumns(y, n, l);
  for (let it = 0; it < (o.powerIterations ?? 4); it++) {
    const z = Float64Array.from(gemmABt(at, transposed32(y, n, l), d, n, l));
    orthonormalizeColumns(z, d, l);
    y = Float64Array.from(gemmABt(a, transposed32(z, d, l), n, d, l));
    orthonormalizeColumns(y, n, l);
  }
  // Bᵀ = Aᵀ Q (d×l) for B = Qᵀ A; the eigen-decomposition of B Bᵀ (l×l) gives σ² and U.
  const bt = Float64Array.from(gemmABt(at, transposed32(y, n, l), d, n, l));
  const bbt = new Float64Array(l * l);
  for (let t = 0; t < d; t++) for (let p = 0; p < l; p++) for (let q = 0; q < l; q++) bbt[p * l + q] += bt[t * l + p] * bt[t * l + q];
  const { values, vectors } = symmetricEigen(bbt, l);
  const components = new Float64Array(dims * d);
  const variances = new Float64Array(dims);
  for (let c = 0; c < dims; c++) {
    const sigma = Math.sqrt(Math.max(0, values[c]));
    variances[c] = values[c] / Math.max(1, n - 1);
    let big = 0;
    for (let t = 0; t < d; t++) {
      let v = 0;
      for (let a = 0; a < l; a++) v += bt[t * l + a] * vectors[a * l + c];
      v = sigma > 0 ? v / sigma : 0;
      components[c * d + t] = v;
      if (Math.abs(v) > Math.abs(big)) big = v;
    }
    if (big < 0) for (let t = 0; t < d; t++) components[c * d + t] = -components[c * d + t]; // sign: largest entry positive
  }
  return { d, dims, mean, components, variances, totalVariance };
}

/** Project n rows onto the components (whitened: each divided by √variance): n×dims float32. */
export function transformPca(p: Pca, x: Float32Array, n: number, o: { whiten?: boolean } = {}): Float32Array {
  const { d, dims } = p;
  const { a } = centred(x, n, d, p.mean);
  const out = gemmABt(a, Float32Array.from(p.components), n, d, dims);
  if (o.whiten) {
    const scale = Float64Array.from(p.variances, (v) => (v > 1e-12 ? 1 / Math.sqrt(v) : 0));
    for (let i = 0; i < n; i++) for (let c = 0; c < dims; c++) out[i * dims + c] *= scale[c];
  }
  return out;
}
