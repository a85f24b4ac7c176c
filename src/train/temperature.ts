/**
 * Temperature scaling (Guo et al. 2017): the T > 0 minimising the mean negative log-likelihood of
 * softmax(T·s) on labelled scores s. Used by heads whose scores have no natural scale (prototype
 * distances, zero-shot compatibilities) so their probabilities mean something; argmax is unchanged.
 */

/** Mean NLL of softmax(T·scores) (n×k) against labels y. */
export function temperatureNll(scores: Float32Array, y: ArrayLike<number>, k: number, t: number): number {
  const n = y.length;
  let nll = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < k; c++) m = Math.max(m, t * scores[i * k + c]);
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.exp(t * scores[i * k + c] - m);
    nll += m + Math.log(s) - t * scores[i * k + y[i]];
  }
  return nll / Math.max(1, n);
}

/** Golden-section search of log T over [lo, hi] (the NLL is convex in T). */
export function fitTemperature(scores: Float32Array, y: ArrayLike<number>, k: number, lo = 1e-2, hi = 1e4): number {
  const f = (u: number) => temperatureNll(scores, y, k, Math.exp(u));
  let a = Math.log(lo);
  let b = Math.log(hi);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let it = 0; it < 60 && b - a > 1e-4; it++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}
