/**
 * The dense linear algebra the zero-shot closed forms need, in float64, row-major: products,
 * Gram matrices, and the symmetric eigendecomposition (Householder tridiagonalisation + implicit
 * QL, the EISPACK tred2/tql2 pair as in JAMA), from which every ridge-type inverse
 * (G + γI)⁻¹ = Q (Λ + γ)⁻¹ Qᵀ follows for all γ at once.
 */

/** C (m×n) = A (m×k) · B (k×n). */
export function matmul(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let t = 0; t < k; t++) {
      const v = a[i * k + t];
      if (v === 0) continue;
      const bt = t * n;
      for (let j = 0; j < n; j++) c[ci + j] += v * b[bt + j];
    }
  }
  return c;
}

/** Aᵀ (n×m) of A (m×n). */
export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

/** Aᵀ·B (k×n) for A (m×k), B (m×n), without forming Aᵀ. */
export function matmulTN(a: Float64Array | Float32Array, m: number, k: number, b: Float64Array | Float32Array, n: number): Float64Array {
  const c = new Float64Array(k * n);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < k; i++) {
      const v = a[r * k + i];
      if (v === 0) continue;
      const ci = i * n;
      const br = r * n;
      for (let j = 0; j < n; j++) c[ci + j] += v * b[br + j];
    }
  }
  return c;
}

/** X·Xᵀ (n×n) of X (n×d). */
export function gramRows(x: Float64Array | Float32Array, n: number, d: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[i * d + t] * x[j * d + t];
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return g;
}

/** Xᵀ·X (d×d) of X (n×d). */
export function gramCols(x: Float64Array | Float32Array, n: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const v = x[o + i];
      if (v === 0) continue;
      const gi = i * d;
      for (let j = i; j < d; j++) g[gi + j] += v * x[o + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) g[i * d + j] = g[j * d + i];
  return g;
}

export interface SymEig {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** n×n row-major; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
  n: number;
}

/** Householder reduction of the symmetric V (n×n, in place) to tridiagonal d (diagonal), e (sub-diagonal). */
function tred2(V: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  const at = (i: number, j: number) => i * n + j;
  for (let j = 0; j < n; j++) d[j] = V[at(n - 1, j)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
        V[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[at(j, i)] = f;
        g = e[j] + V[at(j, j)] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[at(k, j)] * d[k];
          e[k] += V[at(k, j)] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[at(k, j)] -= f * e[k] + g * d[k];
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[at(n - 1, i)] = V[at(i, i)];
    V[at(i, i)] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[at(k, i + 1)] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[at(k, i + 1)] * V[at(k, j)];
        for (let k = 0; k <= i; k++) V[at(k, j)] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[at(n - 1, j)];
    V[at(n - 1, j)] = 0;
  }
  V[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e). `W` holds the accumulated transformation TRANSPOSED
 * (row i = column i of V), so each rotation updates two contiguous rows.
 */
function tql2(W: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60 * n) throw new Error('symmetric eigendecomposition did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const ri = i * n;
          const ri1 = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[ri1 + k];
            const vk = W[ri + k];
            W[ri1 + k] = s * vk + c * hk;
            W[ri + k] = c * vk - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** Eigendecomposition of the symmetric n×n matrix `a` (not modified): a = V·diag(values)·Vᵀ. */
export function symEig(a: Float64Array, n: number): SymEig {
  const V = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 1) return { values: Float64Array.of(a[0]), vectors: Float64Array.of(1), n };
  tred2(V, n, d, e);
  const W = transpose(V, n, n);
  tql2(W, n, d, e);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, j) => {
    for (let k = 0; k < n; k++) vectors[k * n + j] = W[src * n + k];
  });
  return { values, vectors, n };
}

/**
 * Ridge solves on a fixed design X (n×d): (XᵀX + γI)⁻¹ Xᵀ R for any γ > 0 and right-hand side R
 * (n×z), from one eigendecomposition of the smaller Gram matrix (XᵀX if n ≥ d, else XXᵀ, using
 * (XᵀX + γI)⁻¹Xᵀ = Xᵀ(XXᵀ + γI)⁻¹). Also the eigenbasis of XᵀX restricted to its range
 * (`basis`, d×r, and `values`, r), which the SAE Sylvester solve needs.
 */
export class Ridge {
  readonly basis: Float64Array;
  readonly values: Float64Array;
  readonly rank: number;
  private readonly primal: boolean;
  private readonly eig: SymEig;

  constructor(readonly x: Float64Array, readonly n: number, readonly d: number) {
    this.primal = n >= d;
    this.eig = this.primal ? symEig(gramCols(x, n, d), d) : symEig(gramRows(x, n, d), n);
    const { values, vectors, n: m } = this.eig;
    const top = Math.max(0, values[m - 1]);
    const keep = [...values.keys()].filter((j) => values[j] > top * 1e-12);
    this.rank = keep.length;
    this.values = Float64Array.from(keep, (j) => values[j]);
    this.basis = new Float64Array(d * keep.length);
    if (this.primal) {
      keep.forEach((j, c) => {
        for (let i = 0; i < d; i++) this.basis[i * keep.length + c] = vectors[i * m + j];
      });
    } else {
      // Eigenvectors of XᵀX for the non-zero eigenvalues: Xᵀp_j / √σ_j.
      keep.forEach((j, c) => {
        const s = 1 / Math.sqrt(values[j]);
        for (let r = 0; r < n; r++) {
          const pv = vectors[r * m + j] * s;
          if (pv === 0) continue;
          for (let i = 0; i < d; i++) this.basis[i * keep.length + c] += x[r * d + i] * pv;
        }
      });
    }
  }

  /** (XᵀX + γI)⁻¹ Xᵀ R, d×z. */
  solve(gamma: number, r: Float64Array, z: number): Float64Array {
    const { values, vectors, n: m } = this.eig;
    if (this.primal) {
      const xtr = matmulTN(this.x, this.n, this.d, r, z); // d×z
      const c = matmulTN(vectors, m, m, xtr, z); // Qᵀ·XᵀR
      for (let j = 0; j < m; j++) for (let t = 0; t < z; t++) c[j * z + t] /= Math.max(0, values[j]) + gamma;
      return matmul(vectors, m, m, c, z);
    }
    const c = matmulTN(vectors, m, m, r, z); // Pᵀ·R
    for (let j = 0; j < m; j++) for (let t = 0; t < z; t++) c[j * z + t] /= Math.max(0, values[j]) + gamma;
    return matmulTN(this.x, this.n, this.d, matmul(vectors, m, m, c, z), z); // Xᵀ·P(Σ+γ)⁻¹PᵀR
  }
}
