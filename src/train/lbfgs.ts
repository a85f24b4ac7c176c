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

/** y += a·x */
function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

/** out = x + a·d */
function step(x: Float64Array, a: number, d: Float64Array, out: Float64Array): void {
  for (let i = 0; i < x.length; i++) out[i] = x[i] + a * d[i];
}

/** out = a - b */
function sub(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** Two-loop recursion: returns -H·g for the stored pairs. */
function direction(g: Float64Array, S: Float64Array[], Y: Float64Array[], rho: number[], alpha: Float64Array): Float64Array {
  const q = Float64Array.from(g);
  for (let i = S.length - 1; i >= 0; i--) {
    alpha[i] = rho[i] * dot(S[i], q);
    axpy(-alpha[i], Y[i], q);
  }
  const last = S.length - 1;
  const gamma = S.length ? dot(S[last], Y[last]) / dot(Y[last], Y[last]) : 1 / Math.max(1e-12, Math.sqrt(dot(g, g)));
  for (let j = 0; j < q.length; j++) q[j] *= gamma;
  for (let i = 0; i < S.length; i++) {
    const beta = rho[i] * dot(Y[i], q);
    axpy(alpha[i] - beta, S[i], q);
  }
  for (let j = 0; j < q.length; j++) q[j] = -q[j];
  return q;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export async function lbfgsMinimize(
  fg: (x: Float64Array) => { f: number; g: Float64Array } | Promise<{ f: number; g: Float64Array }>,
  x0: Float64Array,
  opts: LbfgsOptions = {},
): Promise<LbfgsResult> {
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-5;
  const ftol = opts.ftol ?? 1e-10;
  const m = opts.m ?? 10;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let { f, g } = await fg(x);
  let evals = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  let converged = maxAbs(g) < tol;
  let it = 0;
  for (; it < maxIter && !converged; it++) {
    const d = direction(g, S, Y, rho, alpha);
    let dg = dot(d, g);
    if (dg >= 0) {
      // Not a descent direction: reset memory and use steepest descent.
      S.length = Y.length = rho.length = 0;
      const norm = Math.max(1e-12, Math.sqrt(dot(g, g)));
      for (let j = 0; j < n; j++) d[j] = -g[j] / norm;
      dg = dot(d, g);
    }
    // Backtracking Armijo line search.
    let t = 1;
    const xn = new Float64Array(n);
    let r = { f: Infinity, g };
    for (let ls = 0; ls < 30; ls++) {
      step(x, t, d, xn);
      r = await fg(xn);
      evals++;
      if (Number.isFinite(r.f) && r.f <= f + 1e-4 * t * dg) break;
      t *= 0.5;
    }
    if (!(r.f <= f)) break; // line search failed: keep the current point
    const s = sub(xn, x);
    const y = sub(r.g, g);
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
