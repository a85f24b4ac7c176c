/**
 * `graft adapt`: transductive transfer from a labelled source folder to an unlabelled target
 * folder. Source and target go through one backbone (feature store); each method (source-only,
 * CORAL, DANN, self-training) fits a head through the one Trainer; each is scored without target
 * labels (Deep Embedded Validation) and, when target labels exist, evaluated on them (oracle
 * numbers, never used for choosing). Every method's result is an ordinary bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Skipped } from '../data/types.js';
import { evaluateScores, type Evaluation } from '../eval/metrics.js';
import { densityRatios, devRisk, meanEntropy, rowErrors } from '../strategies/adapt/selection.js';
import type { BatchSource, Examples } from '../train/trainer.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { ADAPT_METHODS, accuracyOf, coral, dann, selfTrain, sourceOnly, type AdaptContext, type AdaptMethod, type MethodFit, type MethodSettings } from './adapt-methods.js';
import { adaptReport } from './adapt-report.js';
import { finishRun, headProbabilities, openFeatureRun, runSpec, type RunOptions } from './run.js';
import { evaluationRows, targetRows } from './domain-rows.js';
import { TAIL_FITS, TAIL_METHODS, type TailContext, type TailMethod } from './adapt-tail.js';
import { bundleProbabilities, isPixelFit, wholeBackboneAdabn } from './adapt-adabn.js';
import { resolveCut } from './tail-fit.js';
import type { BackboneSpec } from '../models/types.js';
import { fitHead, type HeadFitOptions } from './train.js';

export { ADAPT_METHODS, type AdaptMethod } from './adapt-methods.js';
export type AdaptChoice = AdaptMethod | 'auto' | 'all';

export interface AdaptOptions extends Omit<RunOptions, 'data' | 'report'>, HeadFitOptions, MethodSettings {
  /** Labelled source ImageFolder. */
  source: string;
  /** Target images: a flat folder, or class folders whose names are ignored for training. */
  target: string;
  /** Labelled target images, for evaluation only. */
  targetTest?: string;
  /** Default `auto`: every method, the one with the lowest DEV risk is chosen. */
  method?: AdaptChoice;
  seed?: number;
  /** Continue an interrupted DANN run from its checkpoint. */
  resume?: boolean;
  /**
   * 0 (default): methods on frozen features. K ≥ 1: fine-tune the last K blocks (cut activations
   * cached) with source-only, Deep CORAL or DANN objectives (`epochs`, `lr` apply to that stage).
   */
  unfreeze?: number;
  /** Deep CORAL loss weight (--unfreeze K). */
  coralWeight?: number;
  /** Whole-backbone AdaBN (--unfreeze 0): target images its statistics are re-estimated on (default 64). */
  adabnImages?: number;
}

export interface MethodResult {
  bundle: string;
  sourceValAccuracy: number | null;
  /** DEV risk (importance-weighted 0/1 error) on source validation rows (lower is better): how `auto` chooses. */
  selectionScore: number | null;
  /** Oracle: accuracy on target labels (null without them). */
  targetAccuracy: number | null;
  /** Mean entropy of the target predictions (nats). */
  targetEntropy: number;
  seconds: number;
  target?: Evaluation;
  details: Record<string, unknown>;
}

export interface AdaptResult {
  chosen: AdaptMethod;
  bundle: string;
  methods: Partial<Record<AdaptMethod, MethodResult>>;
  /** meanWeight: mean density ratio on source val (ideal 1; near 0 means DEV is degenerate). */
  selection: { criterion: 'dev'; chosenBy: 'dev' | 'user'; oracleBest: AdaptMethod | null; agreesWithOracle: boolean | null; meanWeight: number | null };
  source: { folder: string; images: number; train: number; val: number; test: number; skipped: Skipped[] };
  target: { folder: string; images: number; skipped: Skipped[]; labels: 'target-test' | 'target-folders' | null; evaluated: number };
  backbone: { name: string; dim: number };
  report: string;
  adaptJson: string;
  seconds: number;
}

/** P(target | x) for the source validation rows, from a logistic domain classifier on backbone features. */
async function importanceWeights(c: AdaptContext): Promise<Float64Array | undefined> {
  if (c.val.n < 2) return undefined;
  const { dim } = c.train;
  const n = c.train.n + c.target.n;
  const x = new Float32Array(n * dim);
  x.set(c.train.x.subarray(0, c.train.n * dim));
  x.set(c.target.x.subarray(0, c.target.n * dim), c.train.n * dim);
  const y = new Int32Array(n);
  y.fill(1, c.train.n);
  const empty: Examples = { x: new Float32Array(0), y: new Int32Array(0), n: 0, dim };
  const d = await fitHead({ x, y, n, dim }, empty, 2, { head: 'linear', weightDecay: 1e-2, seed: c.seed }, c.reporter);
  try {
    const p = headProbabilities(d.head, c.val.x, c.val.n, dim);
    return densityRatios(Float64Array.from({ length: c.val.n }, (_, i) => p[2 * i + 1]), c.train.n, c.target.n);
  } finally {
    d.head.dispose();
  }
}

const METHOD_FITS: Record<(typeof ADAPT_METHODS)[number], (c: AdaptContext, s: MethodSettings, prior: Partial<Record<AdaptMethod, MethodFit>>) => Promise<MethodFit>> = {
  'source-only': (c) => sourceOnly(c),
  coral: (c, s) => coral(c, s),
  dann: (c, s) => dann(c, s),
  'self-train': (c, s, prior) => selfTrain(c, s, prior['source-only']), // starts from the source-only head when it was trained
};

/** The methods a run trains, and the cut point (tail mode) they start from. */
function plan(o: AdaptOptions, spec: BackboneSpec): { methods: AdaptMethod[]; cut?: { cut: string; blocks: number } } {
  const choice = parseMethod(o.method ?? 'auto');
  const k = o.unfreeze ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`--unfreeze must be an integer ≥ 0, got ${k}`);
  // --unfreeze 0: adabn is the whole backbone's BN re-estimated. DEV cannot tell it from source-only (source rows go through the source network), so `auto` leaves it out; `all` runs it.
  if (k === 0) return { methods: choice === 'auto' ? [...ADAPT_METHODS] : choice === 'all' ? [...ADAPT_METHODS, 'adabn'] : [choice] };
  const cut = resolveCut(spec, { unfreeze: k });
  if (choice === 'auto' || choice === 'all') return { methods: [...TAIL_METHODS], cut };
  if (!(TAIL_METHODS as readonly string[]).includes(choice)) throw new Error(`--method ${choice} runs on frozen features (--unfreeze 0); with --unfreeze ${k}: ${TAIL_METHODS.join(', ')}`);
  return { methods: [choice], cut };
}

export function parseMethod(s: string): AdaptChoice {
  const all = ['auto', 'all', ...ADAPT_METHODS, 'adabn'];
  if (!all.includes(s)) throw new Error(`unknown adapt method "${s}" (methods: ${all.join(', ')})`);
  return s as AdaptChoice;
}

export async function adapt(o: AdaptOptions): Promise<AdaptResult> {
  const t0 = performance.now();
  const spec = await runSpec(o);
  const { methods, cut } = plan(o, spec);
  const out = path.resolve(o.out);
  const run = await openFeatureRun({ ...o, data: o.source, report: undefined }, cut?.cut);
  try {
    const t = await targetRows(o, run);
    const ev = await evaluationRows(o, run, t);
    const sp = run.splits;
    const k = run.ds.labels.length;
    const seed = o.seed ?? 0;
    const ctx: TailContext = {
      spec,
      weights: o.weights,
      cut: cut?.cut ?? '',
      blocks: cut?.blocks ?? 0,
      epochs: o.epochs,
      lr: o.lr,
      dropout: o.dropout,
      coralWeight: o.coralWeight,
      train: sp.train,
      val: sp.val,
      target: { x: t.m.data, n: t.m.n, dim: run.dim },
      numClasses: k,
      head: o,
      seed,
      reporter: run.reporter,
      checkpoint: path.join(out, '.dann.ckpt'),
      resume: o.resume,
    };
    const w = await importanceWeights(ctx);
    const meanWeight = w ? w.reduce((a, b) => a + b, 0) / w.length : null;
    // E[w] over source rows is 1 for a true density ratio; far below, the domain classifier separates the domains and DEV degenerates to plain source validation.
    if (meanWeight !== null && meanWeight < 0.1 && methods.length > 1) run.reporter.warn(`DEV is unreliable here: the domain classifier separates source and target almost perfectly (mean density ratio ${meanWeight.toPrecision(2)} on source val, ideal 1), so the choice falls back to source validation error`);
    if (!w && methods.length > 1) run.reporter.warn('the source validation split is too small for DEV: methods cannot be compared without target labels (raise --val-percent)');
    const results: Partial<Record<AdaptMethod, MethodResult>> = {};
    const fits: Partial<Record<AdaptMethod, MethodFit>> = {};
    const single = methods.length === 1;
    try {
      for (const m of methods) {
        const tm = performance.now();
        run.reporter.info(`— ${m} —`);
        const fit = cut
          ? await TAIL_FITS[m as TailMethod](ctx)
          : m === 'adabn'
            ? await wholeBackboneAdabn({ ...ctx, sourceSamples: sp.samples, testRows: sp.test, targetSamples: t.m.samples, images: o.adabnImages })
            : await METHOD_FITS[m as (typeof ADAPT_METHODS)[number]](ctx, o, fits);
        fits[m] = fit;
        const bundle = single ? path.join(out, 'model') : path.join(out, 'methods', m);
        const training = { recipe: 'adapt', method: m, target: path.resolve(o.target), ...fit.training, seed };
        const save = () => finishRun(run, { ...o, data: o.source, out: bundle, report: undefined }, fit.model, { head: fit.head, training, history: fit.history, ...(isPixelFit(fit) ? { probabilities: async (e: Examples | BatchSource) => fit.sourceProbabilities(asExamples(e)) } : {}) });
        let valProbs: Float32Array | undefined;
        let tgtProbs: Float32Array;
        let evalProbs: Float32Array | undefined;
        if (isPixelFit(fit)) {
          // The model takes pixels: saved first, then the target images go through the bundle (in ORT).
          await save();
          valProbs = sp.val.n ? await fit.sourceProbabilities(fit.valView) : undefined;
          tgtProbs = await bundleProbabilities(bundle, t.m.samples);
          evalProbs = ev ? (ev.kind === 'target-folders' ? tgtProbs : await bundleProbabilities(bundle, ev.samples)) : undefined;
        } else {
          valProbs = sp.val.n ? headProbabilities(fit.model, fit.valView.x, fit.valView.n, run.dim) : undefined;
          tgtProbs = headProbabilities(fit.model, t.m.data, t.m.n, run.dim);
          evalProbs = ev ? (ev.kind === 'target-folders' ? tgtProbs : headProbabilities(fit.model, ev.x, ev.n, run.dim)) : undefined;
          await save();
        }
        const target = ev && evalProbs ? evaluateScores(evalProbs, ev.y, run.ds.labels) : undefined;
        results[m] = {
          bundle,
          sourceValAccuracy: valProbs ? accuracyOf(valProbs, sp.val.y, k) : null,
          selectionScore: valProbs && w ? devRisk(rowErrors(valProbs, sp.val.y, k), w).risk : null,
          targetAccuracy: target ? target.accuracy : null,
          targetEntropy: meanEntropy(tgtProbs, t.m.n, k),
          seconds: (performance.now() - tm) / 1000,
          target,
          details: { ...fit.details, history: fit.history },
        };
        const r = results[m]!;
        run.reporter.info(`${m}: source val ${fmtPct(r.sourceValAccuracy)}, DEV ${r.selectionScore?.toFixed(4) ?? '—'}${target ? `, target ${fmtPct(target.accuracy)} (oracle)` : ''} (${r.seconds.toFixed(1)} s)`);
      }
      const scored = methods.filter((m) => results[m]!.selectionScore !== null);
      const chosen = single ? methods[0] : scored.length ? scored.reduce((a, b) => (results[b]!.selectionScore! < results[a]!.selectionScore! ? b : a)) : 'source-only';
      const oracleBest = ev && !single ? methods.reduce((a, b) => (results[b]!.targetAccuracy! > results[a]!.targetAccuracy! ? b : a)) : null;
      fs.rmSync(ctx.checkpoint!, { recursive: true, force: true }); // finished: nothing left to resume
      const bundle = path.join(out, 'model');
      if (!single) await writeDirAtomic(bundle, (tmp) => fs.cpSync(results[chosen]!.bundle, tmp, { recursive: true }));
      const result: AdaptResult = {
        chosen,
        bundle,
        methods: results,
        selection: { criterion: 'dev', chosenBy: single ? 'user' : 'dev', oracleBest, agreesWithOracle: oracleBest ? oracleBest === chosen : null, meanWeight },
        source: { folder: o.source, images: run.used, train: sp.train.n, val: sp.val.n, test: sp.test.n, skipped: run.skipped },
        target: { folder: o.target, images: t.m.n, skipped: t.skipped, labels: ev?.kind ?? null, evaluated: ev?.n ?? 0 },
        backbone: { name: run.backbone.spec.name, dim: run.dim },
        report: path.join(out, 'report.html'),
        adaptJson: path.join(out, 'adapt.json'),
        seconds: 0,
      };
      result.seconds = (performance.now() - t0) / 1000;
      writeFileAtomic(result.adaptJson, JSON.stringify(result, null, 1));
      await adaptReport(out, result, { ctx, fits, sourceY: sp.train.y, targetY: ev?.kind === 'target-folders' ? ev.y : undefined, labels: run.ds.labels });
      return result;
    } finally {
      for (const f of Object.values(fits)) {
        f?.model.dispose();
        f?.release?.();
      }
    }
  } finally {
    await run.backbone.dispose();
  }
}

/** Feature runs' splits are rows in memory. */
function asExamples(e: Examples | BatchSource): Examples {
  if (!('x' in e)) throw new Error('adapt: expected the split as rows in memory');
  return e;
}

const fmtPct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(2)}%`);
