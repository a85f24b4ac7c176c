/**
 * Limited-memory BFGS (Nocedal & Wright, Alg. 7.4 two-loop recursion) with a backtracking Armijo
 * line search. Works on a flat float64 parameter vector; the objective returns value and gradient.
 */
export interface LbfgsOptions {
  maxIter?: number;
  /** Stop when max |gradient| falls below this. */
  tol?: number;
  /** Stop when the relative decrease of f falls below this. */
  ftol?: number;
  /** History size. */
  m?: number;
  /** Called after every accepted step; return true to stop. */
  onIter?: (iter: number, f: number, x: Float64Array) => boolean | Promise<boolean>;
  /** Called with the final point (the objective may have been evaluated elsewhere last). */
  onPoint?: (x: Float64Array) => void;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export async function lbfgsMinimize(
  fg: (x: Float64Array) => { f: number; g: Float64Array },
  x0: Float64Array,
  opts: LbfgsOptions = {},
): Promise<LbfgsResult> {
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-5;
  const ftol = opts.ftol ?? 1e-10;
  const m = opts.m ?? 10;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let { f, g } = fg(x);
  let evals = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  let converged = maxAbs(g) < tol;
  let it = 0;
  for (; it < maxIter && !converged; it++) {
    // Two-loop recursion: d = -H g.
    const q = Float64Array.from(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i] * dot(S[i], q);
      const y = Y[i];
      for (let j = 0; j < n; j++) q[j] -= alpha[i] * y[j];
    }
    const gamma = S.length ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1e-12, Math.sqrt(dot(g, g)));
    for (let j = 0; j < n; j++) q[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], q);
      const s = S[i];
      for (let j = 0; j < n; j++) q[j] += s[j] * (alpha[i] - beta);
    }
    const d = q;
    for (let j = 0; j < n; j++) d[j] = -d[j];
    let dg = dot(d, g);
    if (dg >= 0) {
      // Not a descent direction: reset memory and use steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let j = 0; j < n; j++) d[j] = -g[j] / Math.max(1e-12, Math.sqrt(dot(g, g)));
      dg = dot(d, g);
    }
    // Backtracking Armijo line search.
    let step = 1;
    let xn = new Float64Array(n);
    let r = { f: Infinity, g };
    for (let ls = 0; ls < 30; ls++) {
      for (let j = 0; j < n; j++) xn[j] = x[j] + step * d[j];
      r = fg(xn);
      evals++;
      if (Number.isFinite(r.f) && r.f <= f + 1e-4 * step * dg) break;
      step *= 0.5;
    }
    if (!(r.f <= f)) break; // line search failed: keep the current point
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      s[j] = xn[j] - x[j];
      y[j] = r.g[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-10) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const fPrev = f;
    x = xn;
    f = r.f;
    g = r.g;
    converged = maxAbs(g) < tol || (fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) < ftol;
    if (opts.onIter && (await opts.onIter(it, f, x))) {
      it++;
      break;
    }
  }
  opts.onPoint?.(x);
  return { x, f, iterations: it, evaluations: evals, converged };
}
