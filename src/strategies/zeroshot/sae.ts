/**
 * SAE — "Semantic Autoencoder for Zero-Shot Learning" (Kodirov, Xiang & Gong 2017). The encoder
 * W (a×d) maps a feature to its class description and its transpose decodes back:
 *   min_W ‖Xᵀ − Wᵀ Sᵀ‖² + λ‖W Xᵀ − Sᵀ‖²    (X: n×d rows, S: n×a, row i = description of y_i),
 * whose stationarity condition is the Sylvester equation A W + W B = C with A = SᵀS (a×a),
 * B = λ XᵀX (d×d), C = (1 + λ) SᵀX. Both sides are symmetric: with A = U Λ Uᵀ and XᵀX = Q Σ Qᵀ
 * (restricted to its range, which holds every row of C), W = U [(Uᵀ C Q)_ij / (Λ_i + λ σ_j)] Qᵀ.
 * A class c scores (W x) · s_c (the F→S direction; with unit-norm s_c this ranks classes like the
 * paper's cosine).
 */
import { matmul, matmulTN, Ridge, symEig, transpose } from './linalg.js';

export class Sae {
  private readonly lam: Float64Array;
  private readonly u: Float64Array;
  /** Uᵀ SᵀX Q (a×r). */
  private readonly g: Float64Array;

  constructor(private readonly ridge: Ridge, y: ArrayLike<number>, s: Float64Array, readonly z: number, readonly a: number) {
    const { n, d, rank: r, basis } = ridge;
    const sp = new Float64Array(n * a);
    for (let i = 0; i < n; i++) sp.set(s.subarray(y[i] * a, (y[i] + 1) * a), i * a);
    const eig = symEig(matmulTN(sp, n, a, sp, a), a);
    this.lam = eig.values;
    this.u = eig.vectors;
    const stx = matmulTN(sp, n, a, ridge.x, d); // a×d
    this.g = matmul(matmulTN(this.u, a, a, stx, d), a, d, basis, r); // Uᵀ(SᵀX)Q
  }

  /** The encoder as V = Wᵀ (d×a), so a class scores x V s_cᵀ as in ESZSL. */
  weights(lambda: number): Float64Array {
    const { d, rank: r, basis, values } = this.ridge;
    const a = this.a;
    const core = new Float64Array(a * r);
    for (let i = 0; i < a; i++) {
      for (let j = 0; j < r; j++) {
        const den = Math.max(0, this.lam[i]) + lambda * values[j];
        core[i * r + j] = den > 0 ? ((1 + lambda) * this.g[i * r + j]) / den : 0;
      }
    }
    const w = matmul(matmul(this.u, a, a, core, r), a, r, transpose(basis, d, r), d); // a×d
    return transpose(w, a, d);
  }
}

/** Scores (n×Z) of rows X (n×d) against class descriptions S (Z×a) through V (d×a): X V Sᵀ. */
export function compatibility(x: Float64Array, n: number, d: number, v: Float64Array, s: Float64Array, zAll: number, a: number): Float64Array {
  return matmul(matmul(x, n, d, v, a), n, a, transpose(s, zAll, a), zAll);
}
