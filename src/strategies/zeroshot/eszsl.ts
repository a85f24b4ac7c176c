/**
 * ESZSL — "An embarrassingly simple approach to zero-shot learning" (Romera-Paredes & Torr 2015).
 * With features X (n×d, rows), labels Y (n×z, +1 for the true class, −1 elsewhere) and the seen
 * classes' descriptions S (z×a), V (d×a) minimises
 *   ‖X V Sᵀ − Y‖² + γ‖V Sᵀ‖² + λ‖X V‖² + γλ‖V‖²,
 * whose stationarity condition (XᵀX + γI) V (SᵀS + λI) = Xᵀ Y S gives the closed form
 *   V = (XᵀX + γI)⁻¹ Xᵀ Y S (SᵀS + λI)⁻¹.
 * A class c (seen or not) with description s_c scores x V s_cᵀ. One eigendecomposition of each
 * side serves every (γ, λ) of a grid.
 */
import { matmul, Ridge, symEig, type SymEig } from './linalg.js';

export class Eszsl {
  private readonly sEig: SymEig;
  private readonly m = new Map<number, Float64Array>();
  private readonly rhs: Float64Array;

  /** `y[i]` indexes the rows of `s` (z×a). */
  constructor(private readonly ridge: Ridge, y: ArrayLike<number>, private readonly s: Float64Array, readonly z: number, readonly a: number) {
    const colSum = new Float64Array(a);
    for (let c = 0; c < z; c++) for (let j = 0; j < a; j++) colSum[j] += s[c * a + j];
    // Y S with Y ∈ {−1, +1}: row i = 2·s_{y_i} − Σ_c s_c.
    this.rhs = new Float64Array(ridge.n * a);
    for (let i = 0; i < ridge.n; i++) for (let j = 0; j < a; j++) this.rhs[i * a + j] = 2 * s[y[i] * a + j] - colSum[j];
    const sts = new Float64Array(a * a);
    for (let c = 0; c < z; c++) for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) sts[i * a + j] += s[c * a + i] * s[c * a + j];
    this.sEig = symEig(sts, a);
  }

  /** V (d×a) for regularisers γ (feature side) and λ (attribute side). */
  weights(gamma: number, lambda: number): Float64Array {
    let m = this.m.get(gamma);
    if (!m) {
      m = this.ridge.solve(gamma, this.rhs, this.a); // (XᵀX + γI)⁻¹ Xᵀ Y S, d×a
      this.m.set(gamma, m);
    }
    // · (SᵀS + λI)⁻¹ = E (Ω + λ)⁻¹ Eᵀ
    const { values, vectors } = this.sEig;
    const a = this.a;
    const inv = new Float64Array(a * a);
    for (let i = 0; i < a; i++) {
      for (let j = 0; j < a; j++) {
        let v = 0;
        for (let t = 0; t < a; t++) v += (vectors[i * a + t] * vectors[j * a + t]) / (Math.max(0, values[t]) + lambda);
        inv[i * a + j] = v;
      }
    }
    return matmul(m, this.ridge.d, a, inv, a);
  }
}
