/** Zero-shot closed forms: ESZSL against a direct (Kronecker) solve, SAE against its Sylvester equation, the eigensolver. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matmul, matmulTN, Ridge, symEig, transpose } from '../src/strategies/zeroshot/linalg.js';
import { Eszsl } from '../src/strategies/zeroshot/eszsl.js';
import { Sae } from '../src/strategies/zeroshot/sae.js';
import { rng } from '../src/util/rng.js';

const rand = (r: () => number, len: number) => Float64Array.from({ length: len }, () => r() * 2 - 1);
const maxAbs = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Gaussian elimination with partial pivoting: A x = b (A m×m). */
function solveDense(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const A = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(A[r * m + c]) > Math.abs(A[p * m + c])) p = r;
    for (let j = 0; j < m; j++) [A[c * m + j], A[p * m + j]] = [A[p * m + j], A[c * m + j]];
    [x[c], x[p]] = [x[p], x[c]];
    for (let r = c + 1; r < m; r++) {
      const f = A[r * m + c] / A[c * m + c];
      for (let j = c; j < m; j++) A[r * m + j] -= f * A[c * m + j];
      x[r] -= f * x[c];
    }
  }
  for (let c = m - 1; c >= 0; c--) {
    for (let j = c + 1; j < m; j++) x[c] -= A[c * m + j] * x[j];
    x[c] /= A[c * m + c];
  }
  return x;
}

test('symEig: V diag(λ) Vᵀ reconstructs the matrix, V orthonormal, values ascending', () => {
  const r = rng(5);
  for (const n of [1, 3, 17, 60]) {
    const b = rand(r, n * n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j] + b[j * n + i];
    const { values, vectors } = symEig(a, n);
    const vl = Float64Array.from(vectors, (v, idx) => v * values[idx % n]);
    assert.ok(maxAbs(matmul(vl, n, n, transpose(vectors, n, n), n), a) < 1e-10, `n=${n}`);
    const eye = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
    assert.ok(maxAbs(matmulTN(vectors, n, n, vectors, n), eye) < 1e-10);
    for (let i = 1; i < n; i++) assert.ok(values[i] >= values[i - 1]);
  }
});

for (const [n, d] of [[30, 6], [5, 9]] as const) {
  test(`ESZSL closed form = direct solve of the vectorised normal equations, and a minimum of its objective (n=${n}, d=${d})`, () => {
    const r = rng(n * 31 + d);
    const z = 4;
    const a = 3;
    const x = rand(r, n * d);
    const s = rand(r, z * a);
    const y = Int32Array.from({ length: n }, (_, i) => i % z);
    const gamma = 0.7;
    const lambda = 0.3;
    const V = new Eszsl(new Ridge(x, n, d), y, s, z, a).weights(gamma, lambda);
    // (Bᵀ ⊗ A) vec(V) = vec(XᵀYS), A = XᵀX + γI (d×d), B = SᵀS + λI (a×a), vec column-major.
    const Y = Float64Array.from({ length: n * z }, (_, k) => (y[Math.floor(k / z)] === k % z ? 1 : -1));
    const A = matmulTN(x, n, d, x, d);
    for (let i = 0; i < d; i++) A[i * d + i] += gamma;
    const B = matmulTN(s, z, a, s, a);
    for (let i = 0; i < a; i++) B[i * a + i] += lambda;
    const rhs = matmul(matmulTN(x, n, d, Y, z), d, z, s, a); // d×a
    const m = d * a;
    const K = new Float64Array(m * m);
    for (let p = 0; p < a; p++) for (let q = 0; q < a; q++) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) K[(p * d + i) * m + q * d + j] = B[q * a + p] * A[i * d + j];
    const vecR = Float64Array.from({ length: m }, (_, k) => rhs[(k % d) * a + Math.floor(k / d)]);
    const vecV = solveDense(K, vecR, m);
    const direct = Float64Array.from({ length: d * a }, (_, k) => vecV[(k % a) * d + Math.floor(k / a)]);
    assert.ok(maxAbs(V, direct) < 1e-9, `closed form vs direct: ${maxAbs(V, direct)}`);
    // The objective grows in every direction away from V.
    const obj = (v: Float64Array) => {
      const vs = matmul(v, d, a, transpose(s, z, a), z);
      const xv = matmul(x, n, d, v, a);
      const fit = matmul(x, n, d, vs, z);
      const sq = (t: Float64Array, u?: Float64Array) => t.reduce((acc, e, i) => acc + (e - (u ? u[i] : 0)) ** 2, 0);
      return sq(fit, Y) + gamma * sq(vs) + lambda * sq(xv) + gamma * lambda * sq(v);
    };
    const f0 = obj(V);
    for (let t = 0; t < 10; t++) {
      const dir = rand(r, d * a);
      assert.ok(obj(Float64Array.from(V, (v, i) => v + 1e-3 * dir[i])) > f0);
      assert.ok(obj(Float64Array.from(V, (v, i) => v - 1e-3 * dir[i])) > f0);
    }
  });

  test(`SAE closed form solves SᵀS·W + λ·W·XᵀX = (1+λ)·SᵀX (n=${n}, d=${d})`, () => {
    const r = rng(n * 7 + d);
    const z = 4;
    const a = 3;
    const x = rand(r, n * d);
    const s = rand(r, z * a);
    const y = Int32Array.from({ length: n }, (_, i) => i % z);
    const lambda = 0.4;
    const W = transpose(new Sae(new Ridge(x, n, d), y, s, z, a).weights(lambda), d, a); // a×d
    const sp = new Float64Array(n * a);
    for (let i = 0; i < n; i++) sp.set(s.subarray(y[i] * a, y[i] * a + a), i * a);
    const lhs = matmul(matmulTN(sp, n, a, sp, a), a, a, W, d);
    const right = matmul(W, a, d, matmulTN(x, n, d, x, d), d);
    const c = matmulTN(sp, n, a, x, d);
    const res = Float64Array.from(lhs, (v, i) => v + lambda * right[i] - (1 + lambda) * c[i]);
    assert.ok(res.reduce((m, v) => Math.max(m, Math.abs(v)), 0) < 1e-9, 'Sylvester residual');
  });
}
