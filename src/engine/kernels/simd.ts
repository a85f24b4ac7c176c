/**
 * Small WebAssembly SIMD loops that run directly on the tfjs wasm backend's heap.
 *
 * Some gradient pieces have no fast equivalent among the wasm backend's kernels (a per-channel
 * dot product over many rows; a scatter-add of rows; a per-channel first-argmax over windows).
 * Plain JS loops over the heap run at 3–8 ns per element there, which dominated a training step
 * (depthwise filter gradient on [16,14,14,384]: 27 ms in JS, 2–3 ms here). This module is
 * assembled here, byte by byte, and instantiated against the backend's own `WebAssembly.Memory`,
 * so its loops read and write tensors in place with f32x4 arithmetic. Where it cannot be used
 * (no WebAssembly SIMD, a shared-memory threaded build, or GRAFT_NO_SIMD_LOOPS=1) the same
 * functions run as JS.
 *
 *   dotAcc(acc, x, dy, c, count, xStep, dyStep):
 *     for i < c: acc[i] += Σ_{j<count} x[j·xStep + i] · dy[j·dyStep + i]
 *   mulAddRows(dst, a, w, c, count, dstStep, aStep):
 *     for i < c, j < count: dst[j·dstStep + i] += a[j·aStep + i] · w[i]
 *   addTo(dst, src, n):
 *     for i < n: dst[i] += src[i]
 *   maxPoolPixel(x, dy, delta, c4, hCount, wCount, rowStep, pixStep):
 *     for each channel i < c4 (a multiple of 4): the first maximum (strict >, row-major; NaN never
 *     wins) over a window of hCount rows × wCount pixels starting at x; adds dy[i] at the address
 *     of that maximum + delta (delta = dx − x, so it lands in dx)
 *   inRange(dst, x, dy, n, lo, hi):
 *     for i < n: dst[i] = lo ≤ x[i] ≤ hi ? dy[i] : 0   (NaN x gives 0; lo, hi are float32)
 *   sqrt(dst, x, n):
 *     for i < n: dst[i] = √x[i]
 *   mulRows(dst, a, w, c, count) / addRows(dst, a, w, c, count):
 *     for j < count, i < c: dst[j·c + i] = a[j·c + i] · w[i]  (or + w[i]): a per-channel broadcast
 *   addClipRows(dst, a, w, c, count, lo, hi):
 *     for j < count, i < c: dst[j·c + i] = min(max(a[j·c + i] + w[i], lo), hi): bias + ReLU/ReLU6
 *   adam(x, m, v, g, ox, om, ov, n, b1, omb1, b2, omb2, c1, c2, negLr, eps, decay): for i < n,
 *     tfjs-core's Adam step in its own operation order, then a decoupled weight decay factor:
 *       om = m·b1 + g·omb1;  ov = v·b2 + (g·g)·omb2;
 *       ox = ((om / c1) / (√(ov / c2) + eps) · negLr + x) · decay
 *     except that moments below the smallest normal float32 (2⁻¹²⁶) become 0: the moments of a
 *     weight whose gradient stays 0 (a dead unit) decay into subnormals after ~800 steps, and
 *     x86 computes on subnormals ~80× slower (1280×512: 40 ms instead of 0.5 per step); such a
 *     moment changes the weight by less than 1e-31.
 *   copyRows(dst, src, c, count, dstStep, srcStep) / accRows(…):
 *     for j < count (in order), i < c: dst[j·dstStep + i] = src[j·srcStep + i]  (or +=); rows of
 *     dst may overlap (accRows adds them one after the other)
 *
 * Pointers are byte offsets into the heap; steps are byte strides; `c`, `n` are float counts.
 */
import type { WasmBackend } from './backend.js';

export interface SimdOps {
  dotAcc(acc: number, x: number, dy: number, c: number, count: number, xStep: number, dyStep: number): void;
  mulAddRows(dst: number, a: number, w: number, c: number, count: number, dstStep: number, aStep: number): void;
  addTo(dst: number, src: number, n: number): void;
  maxPoolPixel(x: number, dy: number, delta: number, c4: number, hCount: number, wCount: number, rowStep: number, pixStep: number): void;
  inRange(dst: number, x: number, dy: number, n: number, lo: number, hi: number): void;
  sqrt(dst: number, x: number, n: number): void;
  mulRows(dst: number, a: number, w: number, c: number, count: number): void;
  addRows(dst: number, a: number, w: number, c: number, count: number): void;
  addClipRows(dst: number, a: number, w: number, c: number, count: number, lo: number, hi: number): void;
  copyRows(dst: number, src: number, c: number, count: number, dstStep: number, srcStep: number): void;
  accRows(dst: number, src: number, c: number, count: number, dstStep: number, srcStep: number): void;
  adam(x: number, m: number, v: number, g: number, ox: number, om: number, ov: number, n: number,
    b1: number, omb1: number, b2: number, omb2: number, c1: number, c2: number, negLr: number, eps: number, decay: number): void;
  /** true when running the WebAssembly SIMD code, false for the JS fallback. */
  readonly simd: boolean;
}

// ---- a minimal assembler ---------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (l: number) => [0x0c, ...uleb(l)],
  brIf: (l: number) => [0x0d, ...uleb(l)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Eqz: [0x45],
  i32GeS: [0x4e],
  select: [0x1b],
  f32Le: [0x5f],
  f32Ge: [0x60],
  f32Sqrt: [0x91],
  f32Load: [0x2a, 2, 0],
  f32Store: [0x38, 2, 0],
  f32Add: [0x92],
  f32Mul: [0x94],
  f32Div: [0x95],
  v128Load: [0xfd, 0x00, 2, 0],
  v128Store: [0xfd, 0x0b, 2, 0],
  v128LoadAt: (offset: number) => [0xfd, 0x00, 2, ...uleb(offset)],
  v128StoreAt: (offset: number) => [0xfd, 0x0b, 2, ...uleb(offset)],
  v128Const: (i32x4: number[]) => [0xfd, 0x0c, ...[...new Uint8Array(new Int32Array(i32x4).buffer)]],
  f32Const: (v: number) => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)],
  i32x4Splat: [0xfd, 0x11],
  f32x4Splat: [0xfd, 0x13],
  i32x4ExtractLane: (l: number) => [0xfd, 0x1b, l],
  f32x4Gt: [0xfd, 0x44],
  f32x4Le: [0xfd, 0x45],
  f32x4Ge: [0xfd, 0x46],
  v128And: [0xfd, 0x4e],
  f32x4Sqrt: [0xfd, ...uleb(227)],
  f32x4Div: [0xfd, ...uleb(231)],
  v128Bitselect: [0xfd, 0x52],
  i32x4Add: [0xfd, ...uleb(174)],
  f32x4Add: [0xfd, ...uleb(228)],
  f32x4Mul: [0xfd, ...uleb(230)],
  f32x4Abs: [0xfd, ...uleb(224)],
  f32x4Lt: [0xfd, 0x43],
  v128AndNot: [0xfd, 0x4f],
  f32Abs: [0x8b],
  f32Min: [0x96],
  f32Max: [0x97],
  f32x4Min: [0xfd, ...uleb(232)],
  f32x4Max: [0xfd, ...uleb(233)],
  f32Lt: [0x5d],
};

/** The smallest normal float32: moments below it are flushed to zero (see `adam`). */
const FLT_MIN = 2 ** -126;

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

/** Function body: locals as [count, type] runs, then the code. */
function body(locals: [number, number][], code: number[][]): number[] {
  const b = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...code.flat(), ...op.end];
  return [...uleb(b.length), ...b];
}

/** block+loop running `code` while local `i` < local `end` (signed); `code` must advance `i`. */
function whileLt(i: number, end: number, code: number[][]): number[][] {
  return [op.block, op.loop, op.get(i), op.get(end), op.i32GeS, op.brIf(1), ...code, op.br(0), op.end, op.end];
}

/** block+loop running `code` `j` times, counting local `j` down to 0. */
function countDown(j: number, code: number[][]): number[][] {
  return [op.block, op.loop, op.get(j), op.i32Eqz, op.brIf(1), ...code,
    op.get(j), op.i32(1), op.i32Sub, op.set(j), op.br(0), op.end, op.end];
}

/** local[a] += local[b] (i32) */
function addTo(a: number, b: number): number[][] {
  return [op.get(a), op.get(b), op.i32Add, op.set(a)];
}

/** `bytes` = local[c]·4 and `vecBytes` = (local[c] & ~3)·4 */
function byteLimits(c: number, bytes: number, vecBytes: number): number[][] {
  return [op.get(c), op.i32(4), op.i32Mul, op.set(bytes),
    op.get(c), op.i32(-4), op.i32And, op.i32(4), op.i32Mul, op.set(vecBytes)];
}

/**
 * dotAcc(acc, x, dy, c, count, xStep, dyStep): the `count` products are summed from zero, then
 * added to acc (rather than accumulated onto acc), which keeps float32 rounding error small.
 * Channels go 16 at a time (four independent f32x4 sums: one sum's add latency would otherwise
 * bound the loop), then 4, then 1.
 * params 0..6; locals: 7 i (byte offset in row), 8 px, 9 pd, 10 j, 11 vecEnd, 12 cBytes (i32),
 * 13 v (v128), 14 s (f32), 15–17 v1–v3 (v128), 18 vec16End (i32).
 */
function dotAccBody(): number[] {
  const [acc, x, dy, c, count, xStep, dyStep, i, px, pd, j, vecEnd, cBytes, v, s, v1, v2, v3, vec16End] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const start = [
    op.get(x), op.get(i), op.i32Add, op.set(px),
    op.get(dy), op.get(i), op.i32Add, op.set(pd), op.get(count), op.set(j)];
  const step = [...addTo(px, xStep), ...addTo(pd, dyStep)];
  const accAddr = [op.get(acc), op.get(i), op.i32Add];
  const sums = [v, v1, v2, v3];
  const code: number[][] = [
    ...byteLimits(c, cBytes, vecEnd),
    op.get(c), op.i32(-16), op.i32And, op.i32(4), op.i32Mul, op.set(vec16End),
    op.i32(0), op.set(i),
    ...whileLt(i, vec16End, [
      ...start, ...sums.flatMap((q) => [op.v128Const([0, 0, 0, 0]), op.set(q)]),
      ...countDown(j, [
        ...sums.flatMap((q, k) => [op.get(q), op.get(px), op.v128LoadAt(16 * k), op.get(pd), op.v128LoadAt(16 * k), op.f32x4Mul, op.f32x4Add, op.set(q)]),
        ...step]),
      ...sums.flatMap((q, k) => [...accAddr, ...accAddr, op.v128LoadAt(16 * k), op.get(q), op.f32x4Add, op.v128StoreAt(16 * k)]),
      op.get(i), op.i32(64), op.i32Add, op.set(i),
    ]),
    ...whileLt(i, vecEnd, [
      ...start, op.v128Const([0, 0, 0, 0]), op.set(v),
      ...countDown(j, [op.get(v), op.get(px), op.v128Load, op.get(pd), op.v128Load, op.f32x4Mul, op.f32x4Add, op.set(v), ...step]),
      ...accAddr, ...accAddr, op.v128Load, op.get(v), op.f32x4Add, op.v128Store,
      op.get(i), op.i32(16), op.i32Add, op.set(i),
    ]),
    ...whileLt(i, cBytes, [
      ...start, op.f32Const(0), op.set(s),
      ...countDown(j, [op.get(s), op.get(px), op.f32Load, op.get(pd), op.f32Load, op.f32Mul, op.f32Add, op.set(s), ...step]),
      ...accAddr, ...accAddr, op.f32Load, op.get(s), op.f32Add, op.f32Store,
      op.get(i), op.i32(4), op.i32Add, op.set(i),
    ]),
  ];
  return body([[6, I32], [1, V128], [1, F32], [3, V128], [1, I32]], code);
}

/**
 * mulAddRows(dst, a, w, c, count, dstStep, aStep): dst[j·dstStep + i] += a[j·aStep + i]·w[i]
 * params 0..6; locals 7 i, 8 pdst, 9 pa, 10 j, 11 vecEnd, 12 cBytes, 13 wv (v128), 14 ws (f32).
 */
function mulAddRowsBody(): number[] {
  const [dst, a, w, c, count, dstStep, aStep, i, pdst, pa, j, vecEnd, cBytes, wv, ws] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const start = (load: number[]) => [
    op.get(w), op.get(i), op.i32Add, load, op.get(dst), op.get(i), op.i32Add, op.set(pdst),
    op.get(a), op.get(i), op.i32Add, op.set(pa), op.get(count), op.set(j)];
  const step = [...addTo(pdst, dstStep), ...addTo(pa, aStep)];
  const code: number[][] = [
    ...byteLimits(c, cBytes, vecEnd),
    op.i32(0), op.set(i),
    ...whileLt(i, vecEnd, [
      ...start(op.v128Load), op.set(wv),
      ...countDown(j, [op.get(pdst),
        op.get(pdst), op.v128Load, op.get(pa), op.v128Load, op.get(wv), op.f32x4Mul, op.f32x4Add,
        op.v128Store, ...step]),
      op.get(i), op.i32(16), op.i32Add, op.set(i),
    ]),
    ...whileLt(i, cBytes, [
      ...start(op.f32Load), op.set(ws),
      ...countDown(j, [op.get(pdst),
        op.get(pdst), op.f32Load, op.get(pa), op.f32Load, op.get(ws), op.f32Mul, op.f32Add,
        op.f32Store, ...step]),
      op.get(i), op.i32(4), op.i32Add, op.set(i),
    ]),
  ];
  return body([[6, I32], [1, V128], [1, F32]], code);
}

/** addTo(dst, src, n); params 0..2; locals 3 i, 4 vecEnd, 5 nBytes. */
function addToBody(): number[] {
  const [dst, src, n, i, vecEnd, nBytes] = [0, 1, 2, 3, 4, 5];
  const elem = (load: number[], add: number[], store: number[], size: number) => [
    op.get(dst), op.get(i), op.i32Add,
    op.get(dst), op.get(i), op.i32Add, load,
    op.get(src), op.get(i), op.i32Add, load,
    add, store,
    op.get(i), op.i32(size), op.i32Add, op.set(i),
  ];
  const code: number[][] = [
    ...byteLimits(n, nBytes, vecEnd),
    op.i32(0), op.set(i),
    ...whileLt(i, vecEnd, elem(op.v128Load, op.f32x4Add, op.v128Store, 16)),
    ...whileLt(i, nBytes, elem(op.f32Load, op.f32Add, op.f32Store, 4)),
  ];
  return body([[3, I32]], code);
}

/**
 * maxPoolPixel(x, dy, delta, c4, hCount, wCount, rowStep, pixStep): for channels [0, c4) (c4 a
 * multiple of 4), find the first maximum over a window of hCount×wCount pixels starting at byte
 * address x (rows rowStep bytes apart, pixels pixStep apart) and add dy[i] at that address + delta.
 * params 0..7; locals 8 i, 9 p, 10 q, 11 h, 12 w, 13 a, 14 cBytes (i32); 15 best, 16 idx, 17 v,
 * 18 m, 19 lanes (v128).
 */
function maxPoolPixelBody(): number[] {
  const [x, dy, delta, c4, hCount, wCount, rowStep, pixStep] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [i, p, q, h, w, a, cBytes, best, idx, v, m, lanes] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const scatterLane = (lane: number) => [
    op.block,
    op.get(idx), op.i32x4ExtractLane(lane), op.set(a),
    op.get(a), op.i32Eqz, op.brIf(0),
    op.get(a), op.get(delta), op.i32Add, op.set(a),
    op.get(a),
    op.get(a), op.f32Load,
    op.get(dy), op.get(i), op.i32Add, op.i32(4 * lane), op.i32Add, op.f32Load,
    op.f32Add, op.f32Store,
    op.end,
  ];
  const code: number[][] = [
    op.get(c4), op.i32(4), op.i32Mul, op.set(cBytes),
    op.v128Const([0, 4, 8, 12]), op.set(lanes),
    op.i32(0), op.set(i),
    ...whileLt(i, cBytes, [
      op.f32Const(-Infinity), op.f32x4Splat, op.set(best),
      op.i32(0), op.i32x4Splat, op.set(idx),
      op.get(x), op.get(i), op.i32Add, op.set(p),
      op.get(hCount), op.set(h),
      ...countDown(h, [
        op.get(p), op.set(q),
        op.get(wCount), op.set(w),
        ...countDown(w, [
          op.get(q), op.v128Load, op.set(v),
          op.get(v), op.get(best), op.f32x4Gt, op.set(m),
          op.get(v), op.get(best), op.get(m), op.v128Bitselect, op.set(best),
          op.get(q), op.i32x4Splat, op.get(lanes), op.i32x4Add, op.get(idx), op.get(m), op.v128Bitselect, op.set(idx),
          ...addTo(q, pixStep),
        ]),
        ...addTo(p, rowStep),
      ]),
      ...scatterLane(0), ...scatterLane(1), ...scatterLane(2), ...scatterLane(3),
      op.get(i), op.i32(16), op.i32Add, op.set(i),
    ]),
  ];
  return body([[7, I32], [5, V128]], code);
}

/**
 * inRange(dst, x, dy, n, lo, hi); params 0..5 (lo, hi f32); locals 6 i, 7 vecEnd, 8 nBytes (i32),
 * 9 lov, 10 hiv, 11 v (v128), 12 s (f32).
 */
function inRangeBody(): number[] {
  const [dst, x, dy, n, lo, hi, i, vecEnd, nBytes, lov, hiv, v, s] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const at = (base: number) => [op.get(base), op.get(i), op.i32Add];
  const code: number[][] = [
    ...byteLimits(n, nBytes, vecEnd),
    op.get(lo), op.f32x4Splat, op.set(lov),
    op.get(hi), op.f32x4Splat, op.set(hiv),
    op.i32(0), op.set(i),
    ...whileLt(i, vecEnd, [
      ...at(dst),
      ...at(x), op.v128Load, op.set(v),
      op.get(v), op.get(lov), op.f32x4Ge, op.get(v), op.get(hiv), op.f32x4Le, op.v128And,
      ...at(dy), op.v128Load, op.v128And, op.v128Store,
      op.get(i), op.i32(16), op.i32Add, op.set(i),
    ]),
    ...whileLt(i, nBytes, [
      ...at(dst),
      ...at(dy), op.f32Load, op.f32Const(0),
      ...at(x), op.f32Load, op.set(s),
      op.get(s), op.get(lo), op.f32Ge, op.get(s), op.get(hi), op.f32Le, op.i32And,
      op.select, op.f32Store,
      op.get(i), op.i32(4), op.i32Add, op.set(i),
    ]),
  ];
  return body([[3, I32], [3, V128], [1, F32]], code);
}

/** sqrt(dst, x, n); params 0..2; locals 3 i, 4 vecEnd, 5 nBytes. */
function sqrtBody(): number[] {
  const [dst, x, n, i, vecEnd, nBytes] = [0, 1, 2, 3, 4, 5];
  const elem = (load: number[], sqrt: number[], store: number[], size: number) => [
    op.get(dst), op.get(i), op.i32Add,
    op.get(x), op.get(i), op.i32Add, load, sqrt, store,
    op.get(i), op.i32(size), op.i32Add, op.set(i),
  ];
  const code: number[][] = [
    ...byteLimits(n, nBytes, vecEnd),
    op.i32(0), op.set(i),
    ...whileLt(i, vecEnd, elem(op.v128Load, op.f32x4Sqrt, op.v128Store, 16)),
    ...whileLt(i, nBytes, elem(op.f32Load, op.f32Sqrt, op.f32Store, 4)),
  ];
  return body([[3, I32]], code);
}

/**
 * mulRows / addRows(dst, a, w, c, count): dst[j·c + i] = a[j·c + i] ⊙ w[i], row after row.
 * params 0..4; locals 5 i, 6 vecEnd, 7 cBytes, 8 j, 9 pd, 10 pa (i32).
 */
function rowsBody(vecOp: number[], scalarOp: number[], clip = false): number[] {
  // addClipRows has two more (f32) params, lo and hi, so its locals start at 7; 13 lov, 14 hiv (v128).
  const p = clip ? 2 : 0;
  const [dst, a, w, c, count] = [0, 1, 2, 3, 4];
  const [lo, hi] = [5, 6];
  const [i, vecEnd, cBytes, j, pd, pa] = [5, 6, 7, 8, 9, 10].map((k) => k + p);
  const [lov, hiv] = [13, 14];
  const clamp = (vector: boolean) => !clip ? [] : vector
    ? [op.get(lov), op.f32x4Max, op.get(hiv), op.f32x4Min]
    : [op.get(lo), op.f32Max, op.get(hi), op.f32Min];
  const elem = (load: number[], binop: number[], store: number[], size: number) => [
    op.get(pd), op.get(i), op.i32Add,
    op.get(pa), op.get(i), op.i32Add, load,
    op.get(w), op.get(i), op.i32Add, load,
    binop, ...clamp(size === 16), store,
    op.get(i), op.i32(size), op.i32Add, op.set(i),
  ];
  const code: number[][] = [
    ...byteLimits(c, cBytes, vecEnd),
    ...(clip ? [op.get(lo), op.f32x4Splat, op.set(lov), op.get(hi), op.f32x4Splat, op.set(hiv)] : []),
    op.get(dst), op.set(pd), op.get(a), op.set(pa), op.get(count), op.set(j),
    ...countDown(j, [
      op.i32(0), op.set(i),
      ...whileLt(i, vecEnd, elem(op.v128Load, vecOp, op.v128Store, 16)),
      ...whileLt(i, cBytes, elem(op.f32Load, scalarOp, op.f32Store, 4)),
      ...addTo(pd, cBytes), ...addTo(pa, cBytes),
    ]),
  ];
  return body(clip ? [[6, I32], [2, V128]] : [[6, I32]], code);
}

/**
 * copyRows / accRows(dst, src, c, count, dstStep, srcStep): rows of c floats, copied or added.
 * params 0..5; locals 6 i, 7 vecEnd, 8 cBytes, 9 j, 10 pd, 11 ps (i32).
 */
function moveRowsBody(add: boolean): number[] {
  const [dst, src, c, count, dstStep, srcStep, i, vecEnd, cBytes, j, pd, ps] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const elem = (load: number[], binop: number[], store: number[], size: number) => [
    op.get(pd), op.get(i), op.i32Add,
    ...(add ? [op.get(pd), op.get(i), op.i32Add, load] : []),
    op.get(ps), op.get(i), op.i32Add, load,
    ...(add ? [binop] : []), store,
    op.get(i), op.i32(size), op.i32Add, op.set(i),
  ];
  const code: number[][] = [
    ...byteLimits(c, cBytes, vecEnd),
    op.get(dst), op.set(pd), op.get(src), op.set(ps), op.get(count), op.set(j),
    ...countDown(j, [
      op.i32(0), op.set(i),
      ...whileLt(i, vecEnd, elem(op.v128Load, op.f32x4Add, op.v128Store, 16)),
      ...whileLt(i, cBytes, elem(op.f32Load, op.f32Add, op.f32Store, 4)),
      ...addTo(pd, dstStep), ...addTo(ps, srcStep),
    ]),
  ];
  return body([[6, I32]], code);
}

/**
 * adam(x, m, v, g, ox, om, ov, n, b1, omb1, b2, omb2, c1, c2, negLr, eps, decay): params 0..7 i32,
 * 8..16 f32; locals 17 i, 18 vecEnd, 19 nBytes (i32), 20..28 the f32 params splatted, 29 mv,
 * 30 vv (v128), 31 ms, 32 vs (f32).
 */
function adamBody(): number[] {
  const [x, m, v, g, ox, om, ov, n] = [0, 1, 2, 3, 4, 5, 6, 7];
  const scal = [8, 9, 10, 11, 12, 13, 14, 15, 16]; // b1, omb1, b2, omb2, c1, c2, negLr, eps, decay
  const splat = scal.map((k) => k + 12);
  const [i, vecEnd, nBytes, mv, vv, ms, vs] = [17, 18, 19, 29, 30, 31, 32];
  const step = (vector: boolean): number[][] => {
    const o = vector
      ? { load: op.v128Load, store: op.v128Store, mul: op.f32x4Mul, add: op.f32x4Add, div: op.f32x4Div, sqrt: op.f32x4Sqrt, k: splat, size: 16, mt: mv, vt: vv }
      : { load: op.f32Load, store: op.f32Store, mul: op.f32Mul, add: op.f32Add, div: op.f32Div, sqrt: op.f32Sqrt, k: scal, size: 4, mt: ms, vt: vs };
    const [b1, omb1, b2, omb2, c1, c2, negLr, eps, decay] = o.k.map((k) => op.get(k));
    const at = (base: number) => [op.get(base), op.get(i), op.i32Add];
    const gv = [...at(g), o.load];
    // t = |t| < FLT_MIN ? 0 : t (NaN kept)
    const flush = (t: number) => vector
      ? [op.get(t), op.get(t), op.f32x4Abs, op.v128Const(new Array(4).fill(0x00800000)), op.f32x4Lt, op.v128AndNot, op.set(t)]
      : [op.f32Const(0), op.get(t), op.get(t), op.f32Abs, op.f32Const(FLT_MIN), op.f32Lt, op.select, op.set(t)];
    return [
      ...at(m), o.load, b1, o.mul, ...gv, omb1, o.mul, o.add, op.set(o.mt), ...flush(o.mt),
      ...at(v), o.load, b2, o.mul, ...gv, ...gv, o.mul, omb2, o.mul, o.add, op.set(o.vt), ...flush(o.vt),
      ...at(om), op.get(o.mt), o.store,
      ...at(ov), op.get(o.vt), o.store,
      ...at(ox),
      op.get(o.mt), c1, o.div, op.get(o.vt), c2, o.div, o.sqrt, eps, o.add, o.div, negLr, o.mul,
      ...at(x), o.load, o.add, decay, o.mul, o.store,
      op.get(i), op.i32(o.size), op.i32Add, op.set(i),
    ];
  };
  const code: number[][] = [
    ...byteLimits(n, nBytes, vecEnd),
    ...scal.flatMap((k, j) => [op.get(k), op.f32x4Splat, op.set(splat[j])]),
    op.i32(0), op.set(i),
    ...whileLt(i, vecEnd, step(true)),
    ...whileLt(i, nBytes, step(false)),
  ];
  return body([[3, I32], [11, V128], [2, F32]], code);
}

const FUNCS = ['dotAcc', 'mulAddRows', 'addTo', 'maxPoolPixel', 'inRange', 'sqrt', 'mulRows', 'addRows', 'copyRows', 'accRows', 'adam', 'addClipRows'] as const;

/** The module bytes: imports env.mem, exports the functions in FUNCS. */
export function simdModuleBytes(): Uint8Array<ArrayBuffer> {
  const i32s = (n: number) => Array.from({ length: n }, () => [I32]);
  const types = section(1, vec([
    [0x60, ...vec(i32s(7)), 0], // dotAcc, mulAddRows
    [0x60, ...vec(i32s(3)), 0], // addTo
    [0x60, ...vec(i32s(8)), 0], // maxPoolPixel
    [0x60, ...vec([...i32s(4), [F32], [F32]]), 0], // inRange
    [0x60, ...vec(i32s(5)), 0], // mulRows, addRows
    [0x60, ...vec(i32s(6)), 0], // copyRows, accRows
    [0x60, ...vec([...i32s(8), ...Array.from({ length: 9 }, () => [F32])]), 0], // adam
    [0x60, ...vec([...i32s(5), [F32], [F32]]), 0], // addClipRows
  ]));
  const imports = section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x00]]));
  const funcs = section(3, vec([[0], [0], [1], [2], [3], [1], [4], [4], [5], [5], [6], [7]]));
  const exports = section(7, vec(FUNCS.map((f, k) => [...name(f), 0x00, k])));
  const code = section(10, vec([dotAccBody(), mulAddRowsBody(), addToBody(), maxPoolPixelBody(), inRangeBody(), sqrtBody(),
    rowsBody(op.f32x4Mul, op.f32Mul), rowsBody(op.f32x4Add, op.f32Add), moveRowsBody(false), moveRowsBody(true), adamBody(),
    rowsBody(op.f32x4Add, op.f32Add, true)]));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...funcs, ...exports, ...code]);
}

// ---- instantiation ---------------------------------------------------------------------------

let compiled: WebAssembly.Module | null | undefined;
const perMemory = new WeakMap<WebAssembly.Memory, SimdOps>();

function jsOps(backend: WasmBackend): SimdOps {
  return {
    simd: false,
    dotAcc(acc, x, dy, c, count, xStep, dyStep) {
      const h = backend.wasm.HEAPF32;
      const a = acc >>> 2;
      const xs = xStep >>> 2;
      const ds = dyStep >>> 2;
      for (let i = 0; i < c; i++) {
        let s = 0;
        let px = (x >>> 2) + i;
        let pd = (dy >>> 2) + i;
        for (let j = 0; j < count; j++, px += xs, pd += ds) s += h[px] * h[pd];
        h[a + i] += s;
      }
    },
    mulAddRows(dst, a, w, c, count, dstStep, aStep) {
      const h = backend.wasm.HEAPF32;
      const ds = dstStep >>> 2;
      const as = aStep >>> 2;
      for (let i = 0; i < c; i++) {
        const wi = h[(w >>> 2) + i];
        let pd = (dst >>> 2) + i;
        let pa = (a >>> 2) + i;
        for (let j = 0; j < count; j++, pd += ds, pa += as) h[pd] += h[pa] * wi;
      }
    },
    addTo(dst, src, n) {
      const h = backend.wasm.HEAPF32;
      const d = dst >>> 2;
      const s = src >>> 2;
      for (let i = 0; i < n; i++) h[d + i] += h[s + i];
    },
    maxPoolPixel(x, dy, delta, c4, hCount, wCount, rowStep, pixStep) {
      const h = backend.wasm.HEAPF32;
      for (let i = 0; i < c4; i++) {
        let best = -Infinity;
        let at = -1;
        for (let r = 0; r < hCount; r++) {
          for (let q = 0; q < wCount; q++) {
            const k = ((x + r * rowStep + q * pixStep) >>> 2) + i;
            if (h[k] > best) {
              best = h[k];
              at = k;
            }
          }
        }
        if (at >= 0) h[at + (delta / 4)] += h[(dy >>> 2) + i];
      }
    },
    inRange(dst, x, dy, n, lo, hi) {
      const h = backend.wasm.HEAPF32;
      const [d, xs, ds] = [dst >>> 2, x >>> 2, dy >>> 2];
      const [l, u] = [Math.fround(lo), Math.fround(hi)];
      for (let i = 0; i < n; i++) h[d + i] = h[xs + i] >= l && h[xs + i] <= u ? h[ds + i] : 0;
    },
    sqrt(dst, x, n) {
      const h = backend.wasm.HEAPF32;
      const [d, xs] = [dst >>> 2, x >>> 2];
      for (let i = 0; i < n; i++) h[d + i] = Math.sqrt(h[xs + i]);
    },
    mulRows(dst, a, w, c, count) {
      const h = backend.wasm.HEAPF32;
      const [d, as, ws] = [dst >>> 2, a >>> 2, w >>> 2];
      for (let k = 0; k < c * count; k++) h[d + k] = h[as + k] * h[ws + (k % c)];
    },
    addRows(dst, a, w, c, count) {
      const h = backend.wasm.HEAPF32;
      const [d, as, ws] = [dst >>> 2, a >>> 2, w >>> 2];
      for (let k = 0; k < c * count; k++) h[d + k] = h[as + k] + h[ws + (k % c)];
    },
    addClipRows(dst, a, w, c, count, lo, hi) {
      const h = backend.wasm.HEAPF32;
      const [d, as, ws] = [dst >>> 2, a >>> 2, w >>> 2];
      const [l, u] = [Math.fround(lo), Math.fround(hi)];
      for (let k = 0; k < c * count; k++) h[d + k] = Math.min(Math.max(Math.fround(h[as + k] + h[ws + (k % c)]), l), u);
    },
    copyRows(dst, src, c, count, dstStep, srcStep) {
      const h = backend.wasm.HEAPF32;
      for (let j = 0; j < count; j++) h.copyWithin((dst + j * dstStep) >>> 2, (src + j * srcStep) >>> 2, ((src + j * srcStep) >>> 2) + c);
    },
    adam(x, m, v, g, ox, om, ov, n, b1, omb1, b2, omb2, c1, c2, negLr, eps, decay) {
      const h = backend.wasm.HEAPF32;
      const f = Math.fround;
      const [B1, OMB1, B2, OMB2, C1, C2, L, E, D] = [b1, omb1, b2, omb2, c1, c2, negLr, eps, decay].map(f);
      for (let k = 0; k < n; k++) {
        const gk = h[(g >>> 2) + k];
        let mk = f(f(h[(m >>> 2) + k] * B1) + f(gk * OMB1));
        let vk = f(f(h[(v >>> 2) + k] * B2) + f(f(gk * gk) * OMB2));
        if (Math.abs(mk) < FLT_MIN) mk = 0;
        if (Math.abs(vk) < FLT_MIN) vk = 0;
        h[(om >>> 2) + k] = mk;
        h[(ov >>> 2) + k] = vk;
        h[(ox >>> 2) + k] = f(f(f(f(f(mk / C1) / f(f(Math.sqrt(f(vk / C2))) + E)) * L) + h[(x >>> 2) + k]) * D);
      }
    },
    accRows(dst, src, c, count, dstStep, srcStep) {
      const h = backend.wasm.HEAPF32;
      for (let j = 0; j < count; j++) {
        const [d, s] = [(dst + j * dstStep) >>> 2, (src + j * srcStep) >>> 2];
        for (let i = 0; i < c; i++) h[d + i] += h[s + i];
      }
    },
  };
}

/** The SIMD loops bound to this backend's heap (JS fallback if SIMD wasm cannot be used). */
export function simdOps(backend: WasmBackend, allowSimd = process.env.GRAFT_NO_SIMD_LOOPS !== '1'): SimdOps {
  const memory = backend.wasm.asm?.memory;
  if (!allowSimd || !(memory instanceof WebAssembly.Memory)) return jsOps(backend);
  let ops = perMemory.get(memory);
  if (ops) return ops;
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(simdModuleBytes());
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return jsOps(backend);
  let inst: WebAssembly.Instance;
  try {
    inst = new WebAssembly.Instance(compiled, { env: { mem: memory } });
  } catch {
    return jsOps(backend); // e.g. the threaded build's shared memory does not match the import
  }
  const e = inst.exports as unknown as Omit<SimdOps, 'simd'>;
  ops = { simd: true, dotAcc: e.dotAcc, mulAddRows: e.mulAddRows, addTo: e.addTo, maxPoolPixel: e.maxPoolPixel, inRange: e.inRange, sqrt: e.sqrt,
    mulRows: e.mulRows, addRows: e.addRows, addClipRows: e.addClipRows, copyRows: e.copyRows, accRows: e.accRows, adam: e.adam };
  perMemory.set(memory, ops);
  return ops;
}
