/**
 * FFTs of any length: a mixed-radix Stockham (autosort) complex FFT — radix 4, 2, 3, 5 butterflies
 * and a direct DFT for any other prime factor — and a real FFT of even length N computed as one
 * complex FFT of N/2 (the packing trick), so the n_fft = 400 frames a 16 kHz front-end uses cost a
 * 200-point complex transform. Plans (factors, twiddles) are computed once per length; everything
 * is float64.
 */

/** Prime-ish factors of n, radix 4 first (fewest passes). */
function factorize(n: number): number[] {
  const f: number[] = [];
  for (const p of [4, 2, 3, 5]) {
    while (n % p === 0) {
      f.push(p);
      n /= p;
    }
  }
  for (let p = 7; n > 1; p += 2) {
    while (n % p === 0) {
      f.push(p);
      n /= p;
    }
    if (p * p > n && n > 1) {
      f.push(n);
      break;
    }
  }
  return f;
}

/** A complex FFT of one length: call `forward(re, im)` (in place). */
export class ComplexFft {
  private readonly factors: number[];
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly tr: Float64Array;
  private readonly ti: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`FFT length must be a positive integer, got ${n}`);
    this.factors = factorize(n);
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    this.tr = new Float64Array(n);
    this.ti = new Float64Array(n);
  }

  /** X[k] = Σ x[j] e^{-2πi jk/n}, in place. */
  forward(re: Float64Array, im: Float64Array): void {
    let xr = re;
    let xi = im;
    let yr = this.tr;
    let yi = this.ti;
    const n = this.n;
    let len = n; // current sub-transform length
    let s = 1; // stride (product of radices done)
    for (const r of this.factors) {
      const m = len / r;
      const tw = n / len; // twiddle e^{-2πi/len} = table[tw]
      for (let p = 0; p < m; p++) {
        for (let q = 0; q < s; q++) this.butterfly(r, xr, xi, yr, yi, q, s, p, m, tw);
      }
      [xr, yr] = [yr, xr];
      [xi, yi] = [yi, xi];
      len = m;
      s *= r;
    }
    if (xr !== re) {
      re.set(xr);
      im.set(xi);
    }
  }

  /** One radix-r butterfly: inputs x[q + s(p + k m)], outputs y[q + s(r p + j)] · w^{jp}. */
  private butterfly(r: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, q: number, s: number, p: number, m: number, tw: number): void {
    const c = this.cos;
    const sn = this.sin;
    const n = this.n;
    const i0 = q + s * p;
    const sm = s * m;
    const o0 = q + s * r * p;
    if (r === 2) {
      const ar = xr[i0]!, ai = xi[i0]!, br = xr[i0 + sm]!, bi = xi[i0 + sm]!;
      const w = (tw * p) % n;
      yr[o0] = ar + br;
      yi[o0] = ai + bi;
      const dr = ar - br, di = ai - bi;
      yr[o0 + s] = dr * c[w]! - di * sn[w]!;
      yi[o0 + s] = dr * sn[w]! + di * c[w]!;
      return;
    }
    if (r === 4) {
      const ar = xr[i0]!, ai = xi[i0]!;
      const br = xr[i0 + sm]!, bi = xi[i0 + sm]!;
      const cr = xr[i0 + 2 * sm]!, ci = xi[i0 + 2 * sm]!;
      const dr = xr[i0 + 3 * sm]!, di = xi[i0 + 3 * sm]!;
      const t0r = ar + cr, t0i = ai + ci, t1r = ar - cr, t1i = ai - ci;
      const t2r = br + dr, t2i = bi + di, t3r = bi - di, t3i = dr - br; // (b - d)·(-i)
      yr[o0] = t0r + t2r;
      yi[o0] = t0i + t2i;
      const w1 = tw * p; // < n: p < m = len/4
      const w2 = w1 * 2;
      const w3 = w1 * 3;
      let vr = t1r + t3r, vi = t1i + t3i;
      yr[o0 + s] = vr * c[w1]! - vi * sn[w1]!;
      yi[o0 + s] = vr * sn[w1]! + vi * c[w1]!;
      vr = t0r - t2r;
      vi = t0i - t2i;
      yr[o0 + 2 * s] = vr * c[w2]! - vi * sn[w2]!;
      yi[o0 + 2 * s] = vr * sn[w2]! + vi * c[w2]!;
      vr = t1r - t3r;
      vi = t1i - t3i;
      yr[o0 + 3 * s] = vr * c[w3]! - vi * sn[w3]!;
      yi[o0 + 3 * s] = vr * sn[w3]! + vi * c[w3]!;
      return;
    }
    // General radix (3, 5, other primes): direct r-point DFT, then the twiddle.
    const step = n / r; // e^{-2πi/r}
    for (let j = 0; j < r; j++) {
      let sr = 0;
      let si = 0;
      for (let k = 0; k < r; k++) {
        const w = (step * ((j * k) % r)) % n;
        const vr = xr[i0 + k * sm]!, vi = xi[i0 + k * sm]!;
        sr += vr * c[w]! - vi * sn[w]!;
        si += vr * sn[w]! + vi * c[w]!;
      }
      const w = (tw * p * j) % n;
      yr[o0 + s * j] = sr * c[w]! - si * sn[w]!;
      yi[o0 + s * j] = sr * sn[w]! + si * c[w]!;
    }
  }
}

/** The one-sided spectrum of real input: bins 0..N/2. */
export class RealFft {
  private readonly half?: ComplexFft;
  private readonly full?: ComplexFft;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  private readonly wc: Float64Array;
  private readonly ws: Float64Array;
  readonly bins: number;

  constructor(readonly n: number) {
    this.bins = Math.floor(n / 2) + 1;
    const even = n % 2 === 0 && n >= 2;
    const m = even ? n / 2 : n;
    if (even) this.half = new ComplexFft(m);
    else this.full = new ComplexFft(n);
    this.zr = new Float64Array(m);
    this.zi = new Float64Array(m);
    this.wc = new Float64Array(this.bins);
    this.ws = new Float64Array(this.bins);
    for (let k = 0; k < this.bins; k++) {
      this.wc[k] = Math.cos((2 * Math.PI * k) / n);
      this.ws[k] = -Math.sin((2 * Math.PI * k) / n);
    }
  }

  /** x: n real samples → outRe/outIm: n/2+1 bins each. */
  forward(x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const { zr, zi, n } = this;
    if (this.full) {
      for (let j = 0; j < n; j++) {
        zr[j] = x[j]!;
        zi[j] = 0;
      }
      this.full.forward(zr, zi);
      for (let k = 0; k < this.bins; k++) {
        outRe[k] = zr[k]!;
        outIm[k] = zi[k]!;
      }
      return;
    }
    const m = n / 2;
    for (let j = 0; j < m; j++) {
      zr[j] = x[2 * j]!;
      zi[j] = x[2 * j + 1]!;
    }
    this.half!.forward(zr, zi);
    // X[k] = E[k] + e^{-2πik/n} O[k], E = (Z[k] + conj Z[m-k])/2, O = (Z[k] - conj Z[m-k])/(2i)
    for (let k = 0; k <= m; k++) {
      const a = k % m;
      const b = (m - k) % m;
      const ar = zr[a]!, ai = zi[a]!, br = zr[b]!, bi = -zi[b]!;
      const er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
      const c = this.wc[k]!, s = this.ws[k]!;
      outRe[k] = er + or * c - oi * s;
      outIm[k] = ei + or * s + oi * c;
    }
  }
}
