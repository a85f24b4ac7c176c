/**
 * Scoring `graft adapt`'s methods without target labels (issue §6). Four published criteria:
 *   - DEV (You et al. 2019): source validation 0/1 error weighted by density ratios from a domain
 *     classifier fitted on *the method's own representation* of source and target rows (CORAL:
 *     re-coloured source rows; DANN: its hidden layer; AdaBN: each domain through its own network),
 *     with DEV's control variate. Lower is better.
 *   - SND (Saito et al. 2021): soft neighbourhood density of the target predictions. Higher is better.
 *   - IM (information maximisation; SHOT, Liang et al. 2020; a validator in Musgrave et al. 2022):
 *     H(mean target prediction) − mean H(target prediction). Higher is better.
 *   - BNM (batch nuclear norm; Cui et al. 2020; a validator in Musgrave et al. 2022): nuclear norm
 *     of the target prediction matrix / n. Higher is better.
 *   - EnsV (Hu et al. 2024): agreement of each method's target arg-max with the arg-max of the mean
 *     of all methods' target probabilities (a pool-level score, filled in after the last method).
 *     Higher is better.
 * `selection` says which one chooses; all are reported for every method.
 */
import { batchNuclearNorm, densityRatios, devRisk, informationMaximization, rowErrors, softNeighbourhoodDensity } from '../strategies/adapt/selection.js';
import type { Examples } from '../train/trainer.js';
import type { AdaptContext, MethodFit } from './adapt-methods.js';
import { headProbabilities } from './run.js';
import { fitHead } from './train.js';

export const SELECTIONS = ['dev', 'snd', 'im', 'bnm', 'ensv'] as const;
export type Selection = (typeof SELECTIONS)[number];
/**
 * The default criterion. EnsV, on a-priori grounds: DEV's density ratios degenerate when a domain
 * classifier separates the domains (mean weight ≪ 1, which graft warns about), and Hu et al. 2024
 * found EnsV the criterion that avoids worst-case picks across 12 methods and 5 benchmarks.
 */
export const DEFAULT_SELECTION: Selection = 'ensv';
export const CRITERION_NAME: Record<Selection, string> = { dev: 'DEV', snd: 'SND', im: 'IM', bnm: 'BNM', ensv: 'EnsV' };

export function parseSelection(s: string): Selection {
  if (!(SELECTIONS as readonly string[]).includes(s)) throw new Error(`unknown selection criterion "${s}" (criteria: ${SELECTIONS.join(', ')})`);
  return s as Selection;
}

/** Rows used to fit a domain classifier, at most this many per domain (evenly spaced). */
const MAX_DOMAIN_ROWS = 2000;

function evenRows(x: Float32Array, n: number, dim: number, max: number): { x: Float32Array; n: number } {
  if (n <= max) return { x: x.subarray(0, n * dim), n };
  const out = new Float32Array(max * dim);
  for (let a = 0; a < max; a++) {
    const i = Math.floor((a * n) / max);
    out.set(x.subarray(i * dim, (i + 1) * dim), a * dim);
  }
  return { x: out, n: max };
}

/** A method's source train/val rows and target rows in the representation it aligned the domains in. */
export interface DomainView {
  train: { x: Float32Array; n: number };
  val: { x: Float32Array; n: number };
  target: { x: Float32Array; n: number };
  dim: number;
  /** Same key, same rows: the domain classifier is fitted once per representation. */
  key: string;
}

export function domainViewOf(method: string, fit: MethodFit, c: AdaptContext): DomainView {
  const dim = c.train.dim;
  if (fit.domainView) return { ...fit.domainView, key: method };
  if (!fit.represent) return { train: c.train, val: c.val, target: c.target, dim, key: 'backbone' };
  const tr = fit.represent(c.train.x, c.train.n, 'source');
  const va = fit.represent(c.val.x, c.val.n, 'source');
  const tg = fit.represent(c.target.x, c.target.n, 'target');
  return { train: { x: tr.x, n: c.train.n }, val: { x: va.x, n: c.val.n }, target: { x: tg.x, n: c.target.n }, dim: tr.dim, key: method };
}

/** Density ratios p_target/p_source on the view's source validation rows, from a logistic domain classifier. */
export async function viewWeights(v: DomainView, c: AdaptContext): Promise<Float64Array | undefined> {
  if (v.val.n < 2) return undefined;
  const { dim } = v;
  const s = evenRows(v.train.x, v.train.n, dim, MAX_DOMAIN_ROWS);
  const t = evenRows(v.target.x, v.target.n, dim, MAX_DOMAIN_ROWS);
  const n = s.n + t.n;
  const x = new Float32Array(n * dim);
  x.set(s.x);
  x.set(t.x, s.n * dim);
  const y = new Int32Array(n).fill(1, s.n);
  const empty: Examples = { x: new Float32Array(0), y: new Int32Array(0), n: 0, dim };
  const d = await fitHead({ x, y, n, dim }, empty, 2, { head: 'linear', weightDecay: 1e-2, seed: c.seed }, c.reporter);
  try {
    const p = headProbabilities(d.head, v.val.x, v.val.n, dim);
    return densityRatios(Float64Array.from({ length: v.val.n }, (_, i) => p[2 * i + 1]), s.n, t.n);
  } finally {
    d.head.dispose();
  }
}

export interface MethodScores {
  /** DEV risk (lower is better); null without a source validation split. */
  devRisk: number | null;
  /** Mean density ratio on source val in this method's representation (ideal 1; near 0: DEV degenerates to source val error). */
  meanWeight: number | null;
  /** SND of the target predictions (higher is better). */
  snd: number;
  /** Information maximisation of the target predictions (higher is better). */
  im: number;
  /** Batch nuclear norm of the target predictions (higher is better). */
  bnm: number;
  /** EnsV: agreement with the pool's ensemble on the target (higher is better); null until the pool is complete. */
  ensv: number | null;
}

/** A criterion's score of a method (null when it cannot be scored) and whether higher is better. */
export function scoreOf(criterion: Selection, s: MethodScores | undefined): number | null {
  if (!s) return null;
  return criterion === 'dev' ? s.devRisk : s[criterion];
}
const HIGHER_IS_BETTER: Record<Selection, boolean> = { dev: false, snd: true, im: true, bnm: true, ensv: true };

/** Both criteria for one method: its source val probabilities, its target probabilities, its representation. */
export async function scoreMethod(
  view: DomainView,
  cache: Map<string, Float64Array | undefined>,
  valProbs: Float32Array | undefined,
  valY: Int32Array,
  tgtProbs: Float32Array,
  c: AdaptContext,
): Promise<MethodScores> {
  const k = c.numClasses;
  if (!cache.has(view.key)) cache.set(view.key, await viewWeights(view, c));
  const w = cache.get(view.key);
  const meanWeight = w ? w.reduce((a, b) => a + b, 0) / w.length : null;
  return {
    devRisk: valProbs && w ? devRisk(rowErrors(valProbs, valY, k), w).risk : null,
    meanWeight,
    snd: softNeighbourhoodDensity(tgtProbs, tgtProbs.length / k, k),
    im: informationMaximization(tgtProbs, tgtProbs.length / k, k),
    bnm: batchNuclearNorm(tgtProbs, tgtProbs.length / k, k),
    ensv: null,
  };
}

/** The method a criterion chooses among scored ones (DEV: lowest risk; SND, IM, BNM, EnsV: highest); null when none is scored. */
export function chooseBy<M extends string>(criterion: Selection, scores: Partial<Record<M, MethodScores>>, methods: readonly M[]): M | null {
  const score = (m: M) => scoreOf(criterion, scores[m]);
  const better = (a: number, b: number) => (HIGHER_IS_BETTER[criterion] ? a > b : a < b);
  let best: M | null = null;
  for (const m of methods) {
    const s = score(m);
    if (s === null || !Number.isFinite(s)) continue;
    if (best === null || better(s, score(best)!)) best = m;
  }
  return best;
}
