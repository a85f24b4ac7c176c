/**
 * FFTs of any length: a mixed-radix Stockham (autosort) complex FFT — radix 4, 2, 3, 5 butterflies
 * with their constants written out, and a direct DFT for any other prime factor — and a real FFT
 * of even length N computed as one complex FFT of N/2 (the packing trick), so the n_fft = 400
 * frames a 16 kHz front-end uses cost a 200-point complex transform (radix 4·2·5·5). A plan
 * (factors, each pass's twiddles in the order the pass reads them, scratch buffers) is built once
 * per length; a transform allocates nothing. Everything is float64.
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

/**
 * One Stockham pass of radix r: inputs x[q + s(p + k m)], outputs y[q + s(r p + j)] = w^{jp} ·
 * (r-point DFT)_j with w = e^{-2πi/(r m)}; `tw` holds (cos, sin) of w^{jp} at 2((r−1)p + j − 1).
 */
export interface Pass {
  r: number;
  m: number;
  s: number;
  tw: Float64Array;
  /** radixAny only: cos, sin of e^{-2πik/r}, k < r. */
  rc?: Float64Array;
  rs?: Float64Array;
}

const C5a = Math.cos((2 * Math.PI) / 5);
const C5b = Math.cos((4 * Math.PI) / 5);
const S5a = Math.sin((2 * Math.PI) / 5);
const S5b = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** A complex FFT of one length: call `forward(re, im)` (in place). */
export class ComplexFft {
  private readonly passes: Pass[] = [];
  private readonly tr: Float64Array;
  private readonly ti: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`FFT length must be a positive integer, got ${n}`);
    let len = n;
    let s = 1;
    for (const r of factorize(n)) {
      const m = len / r;
      const tw = new Float64Array(2 * (r - 1) * m);
      for (let p = 0; p < m; p++) {
        for (let j = 1; j < r; j++) {
          const a = (-2 * Math.PI * ((j * p) % len)) / len;
          tw[2 * ((r - 1) * p + j - 1)] = Math.cos(a);
          tw[2 * ((r - 1) * p + j - 1) + 1] = Math.sin(a);
        }
      }
      const general = r !== 2 && r !== 3 && r !== 4 && r !== 5;
      const rc = general ? Float64Array.from({ length: r }, (_, k) => Math.cos((-2 * Math.PI * k) / r)) : undefined;
      const rs = general ? Float64Array.from({ length: r }, (_, k) => Math.sin((-2 * Math.PI * k) / r)) : undefined;
      this.passes.push({ r, m, s, tw, rc, rs });
      len = m;
      s *= r;
    }
    this.tr = new Float64Array(n);
    this.ti = new Float64Array(n);
  }

  /** The passes, in order (the SIMD kernel runs the same plan: src/audio/wasm/stft.ts). */
  get stages(): readonly Pass[] {
    return this.passes;
  }

  /** X[k] = Σ x[j] e^{-2πi jk/n}, in place. */
  forward(re: Float64Array, im: Float64Array): void {
    let xr = re;
    let xi = im;
    let yr = this.tr;
    let yi = this.ti;
    for (const ps of this.passes) {
      if (ps.r === 4) radix4(xr, xi, yr, yi, ps);
      else if (ps.r === 2) radix2(xr, xi, yr, yi, ps);
      else if (ps.r === 5) radix5(xr, xi, yr, yi, ps);
      else if (ps.r === 3) radix3(xr, xi, yr, yi, ps);
      else radixAny(xr, xi, yr, yi, ps);
      [xr, yr] = [yr, xr];
      [xi, yi] = [yi, xi];
    }
    if (xr !== re) {
      re.set(xr);
      im.set(xi);
    }
  }
}

function radix2(xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, { m, s, tw }: Pass): void {
  const sm = s * m;
  for (let p = 0; p < m; p++) {
    const cr = tw[2 * p]!, ci = tw[2 * p + 1]!;
    for (let q = 0, i = s * p, o = 2 * s * p; q < s; q++, i++, o++) {
      const ar = xr[i]!, ai = xi[i]!, br = xr[i + sm]!, bi = xi[i + sm]!;
      yr[o] = ar + br;
      yi[o] = ai + bi;
      const dr = ar - br, di = ai - bi;
      yr[o + s] = dr * cr - di * ci;
      yi[o + s] = dr * ci + di * cr;
    }
  }
}

function radix4(xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, { m, s, tw }: Pass): void {
  const sm = s * m;
  for (let p = 0; p < m; p++) {
    const t = 6 * p;
    const c1 = tw[t]!, s1 = tw[t + 1]!, c2 = tw[t + 2]!, s2 = tw[t + 3]!, c3 = tw[t + 4]!, s3 = tw[t + 5]!;
    for (let q = 0, i = s * p, o = 4 * s * p; q < s; q++, i++, o++) {
      const ar = xr[i]!, ai = xi[i]!;
      const br = xr[i + sm]!, bi = xi[i + sm]!;
      const cr = xr[i + 2 * sm]!, ci = xi[i + 2 * sm]!;
      const dr = xr[i + 3 * sm]!, di = xi[i + 3 * sm]!;
      const t0r = ar + cr, t0i = ai + ci, t1r = ar - cr, t1i = ai - ci;
      const t2r = br + dr, t2i = bi + di, t3r = bi - di, t3i = dr - br; // (b − d)·(−i)
      yr[o] = t0r + t2r;
      yi[o] = t0i + t2i;
      let vr = t1r + t3r, vi = t1i + t3i;
      yr[o + s] = vr * c1 - vi * s1;
      yi[o + s] = vr * s1 + vi * c1;
      vr = t0r - t2r;
      vi = t0i - t2i;
      yr[o + 2 * s] = vr * c2 - vi * s2;
      yi[o + 2 * s] = vr * s2 + vi * c2;
      vr = t1r - t3r;
      vi = t1i - t3i;
      yr[o + 3 * s] = vr * c3 - vi * s3;
      yi[o + 3 * s] = vr * s3 + vi * c3;
    }
  }
}

function radix3(xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, { m, s, tw }: Pass): void {
  const sm = s * m;
  for (let p = 0; p < m; p++) {
    const t = 4 * p;
    const c1 = tw[t]!, s1 = tw[t + 1]!, c2 = tw[t + 2]!, s2 = tw[t + 3]!;
    for (let q = 0, i = s * p, o = 3 * s * p; q < s; q++, i++, o++) {
      const ar = xr[i]!, ai = xi[i]!;
      const br = xr[i + sm]!, bi = xi[i + sm]!;
      const cr = xr[i + 2 * sm]!, ci = xi[i + 2 * sm]!;
      const tr = br + cr, ti = bi + ci;
      const mr = ar - 0.5 * tr, mi = ai - 0.5 * ti;
      const dr = S3 * (bi - ci), di = -S3 * (br - cr); // −i·sin(2π/3)·(b − c)
      yr[o] = ar + tr;
      yi[o] = ai + ti;
      let vr = mr + dr, vi = mi + di;
      yr[o + s] = vr * c1 - vi * s1;
      yi[o + s] = vr * s1 + vi * c1;
      vr = mr - dr;
      vi = mi - di;
      yr[o + 2 * s] = vr * c2 - vi * s2;
      yi[o + 2 * s] = vr * s2 + vi * c2;
    }
  }
}

function radix5(xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, { m, s, tw }: Pass): void {
  const sm = s * m;
  for (let p = 0; p < m; p++) {
    const t = 8 * p;
    const c1 = tw[t]!, s1 = tw[t + 1]!, c2 = tw[t + 2]!, s2 = tw[t + 3]!;
    const c3 = tw[t + 4]!, s3 = tw[t + 5]!, c4 = tw[t + 6]!, s4 = tw[t + 7]!;
    for (let q = 0, i = s * p, o = 5 * s * p; q < s; q++, i++, o++) {
      const ar = xr[i]!, ai = xi[i]!;
      const br = xr[i + sm]!, bi = xi[i + sm]!;
      const cr = xr[i + 2 * sm]!, ci = xi[i + 2 * sm]!;
      const dr = xr[i + 3 * sm]!, di = xi[i + 3 * sm]!;
      const er = xr[i + 4 * sm]!, ei = xi[i + 4 * sm]!;
      const t1r = br + er, t1i = bi + ei, t2r = cr + dr, t2i = ci + di;
      const t3r = br - er, t3i = bi - ei, t4r = cr - dr, t4i = ci - di;
      yr[o] = ar + t1r + t2r;
      yi[o] = ai + t1i + t2i;
      const m1r = ar + C5a * t1r + C5b * t2r, m1i = ai + C5a * t1i + C5b * t2i;
      const m2r = ar + C5b * t1r + C5a * t2r, m2i = ai + C5b * t1i + C5a * t2i;
      // −i·(S5a t3 + S5b t4) and −i·(S5b t3 − S5a t4)
      const n1r = S5a * t3i + S5b * t4i, n1i = -(S5a * t3r + S5b * t4r);
      const n2r = S5b * t3i - S5a * t4i, n2i = -(S5b * t3r - S5a * t4r);
      let vr = m1r + n1r, vi = m1i + n1i;
      yr[o + s] = vr * c1 - vi * s1;
      yi[o + s] = vr * s1 + vi * c1;
      vr = m2r + n2r;
      vi = m2i + n2i;
      yr[o + 2 * s] = vr * c2 - vi * s2;
      yi[o + 2 * s] = vr * s2 + vi * c2;
      vr = m2r - n2r;
      vi = m2i - n2i;
      yr[o + 3 * s] = vr * c3 - vi * s3;
      yi[o + 3 * s] = vr * s3 + vi * c3;
      vr = m1r - n1r;
      vi = m1i - n1i;
      yr[o + 4 * s] = vr * c4 - vi * s4;
      yi[o + 4 * s] = vr * s4 + vi * c4;
    }
  }
}

/** Any other prime radix: a direct r-point DFT per butterfly, then the twiddle. */
function radixAny(xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array, { r, m, s, tw, rc, rs }: Pass): void {
  const sm = s * m;
  for (let p = 0; p < m; p++) {
    for (let q = 0, i = s * p, o = r * s * p; q < s; q++, i++, o++) {
      for (let j = 0; j < r; j++) {
        let ar = 0;
        let ai = 0;
        for (let k = 0, w = 0; k < r; k++, w = (w + j) % r) {
          const vr = xr[i + k * sm]!, vi = xi[i + k * sm]!;
          ar += vr * rc![w]! - vi * rs![w]!;
          ai += vr * rs![w]! + vi * rc![w]!;
        }
        if (j === 0) ((yr[o] = ar), (yi[o] = ai));
        else {
          const c = tw[2 * ((r - 1) * p + j - 1)]!, sn = tw[2 * ((r - 1) * p + j - 1) + 1]!;
          yr[o + s * j] = ar * c - ai * sn;
          yi[o + s * j] = ar * sn + ai * c;
        }
      }
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

  /**
   * What the SIMD kernel needs to run this transform (src/audio/wasm/stft.ts): the n/2-point complex
   * plan and the unpack twiddles — when n is even and every radix is 2, 3, 4 or 5 (else undefined).
   */
  simdPlan(): { stages: readonly Pass[]; wc: Float64Array; ws: Float64Array } | undefined {
    if (!this.half || this.half.stages.some((p) => p.r > 5)) return undefined;
    return { stages: this.half.stages, wc: this.wc, ws: this.ws };
  }

  /** x: n real samples → outRe/outIm: n/2+1 bins each. */
  forward(x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    this.transform(x);
    this.unpack((k, re, im) => ((outRe[k] = re), (outIm[k] = im)));
  }

  /** x: n real samples → out: |X[k]|² for the n/2+1 bins (what a power spectrogram needs; no re/im arrays). */
  power(x: ArrayLike<number>, out: Float64Array): void {
    this.transform(x);
    const { zr, zi, wc, ws } = this;
    if (this.full) {
      for (let k = 0; k < this.bins; k++) out[k] = zr[k]! * zr[k]! + zi[k]! * zi[k]!;
      return;
    }
    const m = this.n / 2;
    // k = 0 and k = m: X = Re Z[0] ± Im Z[0] (real).
    const d0 = zr[0]! + zi[0]!, dm = zr[0]! - zi[0]!;
    out[0] = d0 * d0;
    out[m] = dm * dm;
    for (let k = 1; k < m; k++) {
      const b = m - k;
      const ar = zr[k]!, ai = zi[k]!, br = zr[b]!, bi = -zi[b]!;
      const er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
      const c = wc[k]!, s = ws[k]!;
      const re = er + or * c - oi * s;
      const im = ei + or * s + oi * c;
      out[k] = re * re + im * im;
    }
  }

  /** Into zr/zi: the complex FFT of x (odd n) or of x packed as z[j] = x[2j] + i·x[2j+1] (even n). */
  private transform(x: ArrayLike<number>): void {
    const { zr, zi, n } = this;
    if (this.full) {
      for (let j = 0; j < n; j++) {
        zr[j] = x[j]!;
        zi[j] = 0;
      }
      this.full.forward(zr, zi);
      return;
    }
    for (let j = 0, m = n / 2; j < m; j++) {
      zr[j] = x[2 * j]!;
      zi[j] = x[2 * j + 1]!;
    }
    this.half!.forward(zr, zi);
  }

  /** The n/2+1 bins from the transform: X[k] = E[k] + e^{-2πik/n} O[k], E = (Z[k] + conj Z[m-k])/2, O = (Z[k] − conj Z[m-k])/(2i). */
  private unpack(put: (k: number, re: number, im: number) => void): void {
    const { zr, zi } = this;
    if (this.full) {
      for (let k = 0; k < this.bins; k++) put(k, zr[k]!, zi[k]!);
      return;
    }
    const m = this.n / 2;
    for (let k = 0; k <= m; k++) {
      const a = k % m;
      const b = (m - k) % m;
      const ar = zr[a]!, ai = zi[a]!, br = zr[b]!, bi = -zi[b]!;
      const er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
      const c = this.wc[k]!, s = this.ws[k]!;
      put(k, er + or * c - oi * s, ei + or * s + oi * c);
    }
  }
}
