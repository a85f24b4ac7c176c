/**
 * Fitting a zero-shot model with nothing but seen classes: the regularisers are chosen on
 * class-disjoint folds of the SEEN classes (each fold holds some seen classes out and scores ZSL
 * per-class mean accuracy on them, as if unseen), the calibrated-stacking constant on the same
 * folds in the generalised setting (a fifth of each fitted class's images held out as seen test
 * images, the held-out classes as unseen), and a softmax temperature there too. Then the model
 * is refitted on every seen image with the chosen values.
 */
import { centreL2, rowMean } from '../../train/centre-l2.js';
import { fitTemperature } from '../../train/temperature.js';
import { rng, shuffle } from '../../util/rng.js';
import { Eszsl } from './eszsl.js';
import { Sae, compatibility } from './sae.js';
import { Ridge } from './linalg.js';
import { fitBilinear } from './bilinear.js';
import { argmaxScores, calibrateStacking, perClassMeanAccuracy, type GzslSet } from './gzsl.js';

export type ZslMethod = 'eszsl' | 'sae' | 'bilinear';
export const ZSL_METHODS: readonly ZslMethod[] = ['eszsl', 'sae', 'bilinear'];

/** Half-decade grid 1e-3 … 1e3 (ESZSL: γ and λ; SAE: λ). */
export const REG_GRID = Array.from({ length: 13 }, (_, i) => 10 ** (-3 + i / 2));
/** The bilinear model's L2 strengths (each point is an L-BFGS fit, so a shorter grid). */
export const BILINEAR_GRID = [1e-4, 1e-3, 1e-2, 1e-1];

export interface ZslRows {
  /** Raw backbone features, n×d. */
  x: Float32Array;
  n: number;
  d: number;
  /** Seen-class index of each row (0..zs−1). */
  y: Int32Array;
  /** Descriptions of the seen classes (zs×a), row-normalised. */
  s: Float64Array;
  zs: number;
  a: number;
}

export type Regularisers = { gamma: number; lambda: number } | { lambda: number };

export interface ZslSelection {
  regularisers: Regularisers;
  /** Mean held-out-class ZSL accuracy of every grid point (the chosen one included). */
  grid: { regularisers: Regularisers; accuracy: number }[];
  accuracy: number;
  folds: number[][];
  calibration: ReturnType<typeof calibrateStacking>;
  temperature: number;
}

export interface ZslFit {
  mean: Float64Array;
  /** d×a: a class with description s scores CL2N(x)·V·sᵀ. */
  v: Float64Array;
  selection?: ZslSelection;
}

function gridOf(method: ZslMethod, fixed: Partial<{ gamma: number; lambda: number }>): Regularisers[] {
  const gs = fixed.gamma !== undefined ? [fixed.gamma] : REG_GRID;
  const ls = fixed.lambda !== undefined ? [fixed.lambda] : method === 'bilinear' ? BILINEAR_GRID : REG_GRID;
  // Strong → weak, so ties keep the stronger regularisation.
  const desc = (a: number[]) => [...a].sort((p, q) => q - p);
  return method === 'eszsl' ? desc(gs).flatMap((gamma) => desc(ls).map((lambda) => ({ gamma, lambda }))) : desc(ls).map((lambda) => ({ lambda }));
}

/** Regularisers → V (d×a) on CL2N rows `xz`, cached per point (a bilinear point is a training run). */
function model(method: ZslMethod, xz: Float64Array, n: number, d: number, y: ArrayLike<number>, s: Float64Array, z: number, a: number): (r: Regularisers) => Promise<Float64Array> {
  const cache = new Map<string, Float64Array>();
  let f: (r: Regularisers) => Float64Array | Promise<Float64Array>;
  if (method === 'bilinear') f = (r) => fitBilinear(xz, n, d, y, s, z, a, r.lambda);
  else {
    const ridge = new Ridge(xz, n, d);
    if (method === 'eszsl') {
      const m = new Eszsl(ridge, y, s, z, a);
      f = (r) => m.weights((r as { gamma: number }).gamma, r.lambda);
    } else {
      const m = new Sae(ridge, y, s, z, a);
      f = (r) => m.weights(r.lambda);
    }
  }
  return async (r) => {
    const key = JSON.stringify(r);
    const hit = cache.get(key);
    if (hit) return hit;
    const v = await f(r);
    cache.set(key, v);
    return v;
  };
}

const pick = (x: Float32Array, d: number, idx: number[]) => {
  const out = new Float32Array(idx.length * d);
  idx.forEach((i, r) => out.set(x.subarray(i * d, (i + 1) * d), r * d));
  return out;
};

/** Fit on the given rows (CL2N by their mean) at fixed regularisers. */
export async function fitZsl(method: ZslMethod, rows: ZslRows, reg: Regularisers): Promise<ZslFit> {
  const mean = rowMean(rows.x, rows.n, rows.d);
  const xz = Float64Array.from(centreL2(rows.x, rows.n, rows.d, mean));
  return { mean, v: await model(method, xz, rows.n, rows.d, rows.y, rows.s, rows.zs, rows.a)(reg) };
}

interface Fold {
  classes: number[];
  heldOut: number[];
  scoreHeld: (r: Regularisers) => Promise<number>;
  gzsl: (r: Regularisers) => Promise<{ set: GzslSet; labelsOfAll: number[] }>;
}

function makeFold(method: ZslMethod, rows: ZslRows, heldOut: number[], r: () => number): Fold {
  const { d, a } = rows;
  const fitClasses = [...Array(rows.zs).keys()].filter((c) => !heldOut.includes(c));
  const local = new Map(fitClasses.map((c, i) => [c, i]));
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < rows.n; i++) byClass.set(rows.y[i], [...(byClass.get(rows.y[i]) ?? []), i]);
  const fitIdx: number[] = [];
  const calIdx: number[] = [];
  for (const c of fitClasses) {
    const idx = [...(byClass.get(c) ?? [])];
    shuffle(idx, r);
    const nc = idx.length >= 2 ? Math.max(1, Math.round(idx.length / 5)) : 0;
    calIdx.push(...idx.slice(0, nc));
    fitIdx.push(...idx.slice(nc));
  }
  const heldIdx = heldOut.flatMap((c) => byClass.get(c) ?? []);
  const sOf = (cls: number[]) => {
    const out = new Float64Array(cls.length * a);
    cls.forEach((c, i) => out.set(rows.s.subarray(c * a, (c + 1) * a), i * a));
    return out;
  };
  const fx = pick(rows.x, d, fitIdx);
  const mean = rowMean(fx, fitIdx.length, d);
  const xz = Float64Array.from(centreL2(fx, fitIdx.length, d, mean));
  const weights = model(method, xz, fitIdx.length, d, fitIdx.map((i) => local.get(rows.y[i])!), sOf(fitClasses), fitClasses.length, a);
  const hx = Float64Array.from(centreL2(pick(rows.x, d, heldIdx), heldIdx.length, d, mean));
  const hy = heldIdx.map((i) => heldOut.indexOf(rows.y[i]));
  const sHeld = sOf(heldOut);
  const all = [...fitClasses, ...heldOut];
  const sAll = sOf(all);
  const cx = Float64Array.from(centreL2(pick(rows.x, d, calIdx), calIdx.length, d, mean));
  return {
    classes: fitClasses,
    heldOut,
    scoreHeld: async (reg) => {
      const sc = compatibility(hx, heldIdx.length, d, await weights(reg), sHeld, heldOut.length, a);
      return perClassMeanAccuracy(argmaxScores(sc, heldIdx.length, heldOut.length), hy);
    },
    gzsl: async (reg) => {
      const v = await weights(reg);
      const k = all.length;
      const sc = new Float64Array((calIdx.length + heldIdx.length) * k);
      sc.set(compatibility(cx, calIdx.length, d, v, sAll, k, a), 0);
      sc.set(compatibility(hx, heldIdx.length, d, v, sAll, k, a), calIdx.length * k);
      const pos = (c: number) => all.indexOf(c);
      return {
        labelsOfAll: all,
        set: {
          scores: sc,
          k,
          seen: all.map((c) => !heldOut.includes(c)),
          seenRows: { idx: calIdx.map((_, i) => i), y: calIdx.map((i) => pos(rows.y[i])) },
          unseenRows: { idx: heldIdx.map((_, i) => calIdx.length + i), y: heldIdx.map((i) => pos(rows.y[i])) },
        },
      };
    },
  };
}

/**
 * Choose the regularisers (each fixed one is kept), the stacking constant and the temperature on
 * class folds of the seen classes; then fit on every row.
 */
export async function selectAndFit(method: ZslMethod, rows: ZslRows, o: { gamma?: number; lambda?: number; folds?: number; seed?: number } = {}): Promise<ZslFit> {
  const zs = rows.zs;
  if (zs < 4) throw new Error(`choosing the regularisers holds seen classes out: it needs at least 4 seen classes, got ${zs}`);
  const nf = Math.max(2, Math.min(o.folds ?? 3, Math.floor(zs / 2)));
  const order = [...Array(zs).keys()];
  const r = rng(o.seed ?? 0);
  shuffle(order, r);
  const groups = Array.from({ length: nf }, (_, f) => order.filter((_, i) => i % nf === f));
  const folds = groups.map((g) => makeFold(method, rows, g, r));
  const grid: ZslSelection['grid'] = [];
  for (const reg of gridOf(method, o)) {
    let acc = 0;
    for (const f of folds) acc += await f.scoreHeld(reg);
    grid.push({ regularisers: reg, accuracy: acc / folds.length });
  }
  const best = grid.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const sets: GzslSet[] = [];
  for (const f of folds) sets.push((await f.gzsl(best.regularisers)).set);
  const calibration = calibrateStacking(sets);
  // Temperature of the calibrated scores, every fold's rows (geometric mean over folds).
  const logT = sets.map((st) => {
    const idx = [...st.seenRows.idx, ...st.unseenRows.idx];
    const y = [...st.seenRows.y, ...st.unseenRows.y];
    const sc = new Float32Array(idx.length * st.k);
    idx.forEach((i, q) => {
      for (let c = 0; c < st.k; c++) sc[q * st.k + c] = st.scores[i * st.k + c] - (st.seen[c] ? calibration.gamma : 0);
    });
    return Math.log(fitTemperature(sc, y, st.k));
  });
  const temperature = Math.exp(logT.reduce((a, b) => a + b, 0) / logT.length);
  const fit = await fitZsl(method, rows, best.regularisers);
  return { ...fit, selection: { regularisers: best.regularisers, grid, accuracy: best.accuracy, folds: groups, calibration, temperature } };
}
