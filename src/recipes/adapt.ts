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
import { ensembleAgreement, meanEntropy } from '../strategies/adapt/selection.js';
import type { BatchSource, Examples } from '../train/trainer.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { ADAPT_METHODS, accuracyOf, type AdaptMethod, type MethodFit, type MethodSettings } from './adapt-methods.js';
import { chooseBy, DEFAULT_SELECTION, domainViewOf, scoreMethod, scoreOf, SELECTIONS, type MethodScores, type Selection } from './adapt-select.js';
import { fitFeatureMethod, type FeatureMethod } from './adapt-stack.js';
import { adaptReport } from './adapt-report.js';
import { finishRun, headProbabilities, openFeatureRun, runSpec, type RunOptions } from './run.js';
import { evaluationRows, targetRows } from './domain-rows.js';
import { TAIL_FITS, TAIL_METHODS, type TailContext, type TailMethod } from './adapt-tail.js';
import { ADABN_METHODS, bundleProbabilities, isPixelFit, wholeBackboneAdabn, type AdabnDomains, type AdabnMethod } from './adapt-adabn.js';
import { resolveCut } from './tail-fit.js';
import type { BackboneSpec } from '../models/types.js';
import type { HeadFitOptions } from './train.js';

export { ADAPT_METHODS, type AdaptMethod } from './adapt-methods.js';
/** One method, `auto`/`all` (every method, one chosen without target labels), or a list of methods to choose among. */
export type AdaptChoice = AdaptMethod | 'auto' | 'all' | AdaptMethod[];

export interface AdaptOptions extends Omit<RunOptions, 'data' | 'report'>, HeadFitOptions, MethodSettings {
  /** Labelled source ImageFolder. */
  source: string;
  /** Target images: a flat folder, or class folders whose names are ignored for training. */
  target: string;
  /** Labelled target images, for evaluation only. */
  targetTest?: string;
  /** Default `auto`: every method, one chosen by `selection` without target labels. */
  method?: AdaptChoice;
  /** How `auto`, `all` and a list choose: EnsV (default), SND, IM, BNM (highest) or DEV (lowest risk). */
  selection?: Selection;
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
  /** The choosing criterion's score: DEV risk (lower is better) or EnsV / SND / IM / BNM (higher is better). */
  selectionScore: number | null;
  /** DEV risk: source val 0/1 error weighted by density ratios in this method's representation (lower is better). */
  devRisk: number | null;
  /** Mean DEV density ratio on source val (ideal 1; near 0 DEV degenerates to source val error). */
  devMeanWeight: number | null;
  /** Soft neighbourhood density of the target predictions (higher is better). */
  snd: number;
  /** Information maximisation of the target predictions, H(mean p) − mean H(p) (higher is better). */
  im: number;
  /** Batch nuclear norm of the target predictions / n (higher is better). */
  bnm: number;
  /** EnsV: share of target rows where this method's arg-max equals that of all methods' mean prediction (higher is better; null for a single method). */
  ensv: number | null;
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
  /**
   * criterion: what chose (`chosenBy` 'user' for a single method); picks: what each criterion
   * would choose; oracleBest (target labels; evaluation only) and whether each pick agrees with it.
   */
  selection: {
    criterion: Selection;
    chosenBy: Selection | 'user';
    picks: Record<Selection, AdaptMethod | null>;
    oracleBest: AdaptMethod | null;
    agreesWithOracle: boolean | null;
    oracleAgreement: Record<Selection, boolean> | null;
    /** Points of target accuracy each pick is below the oracle best (oracle numbers). */
    belowBest: Record<Selection, number> | null;
  };
  source: { folder: string; images: number; train: number; val: number; test: number; skipped: Skipped[] };
  target: { folder: string; images: number; skipped: Skipped[]; labels: 'target-test' | 'target-folders' | null; evaluated: number };
  backbone: { name: string; dim: number };
  report: string;
  adaptJson: string;
  seconds: number;
}

/** The methods a run trains, and the cut point (tail mode) they start from. */
function plan(o: AdaptOptions, spec: BackboneSpec): { methods: AdaptMethod[]; cut?: { cut: string; blocks: number } } {
  const choice = typeof o.method === 'string' ? parseMethod(o.method) : (o.method ?? 'auto');
  const k = o.unfreeze ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`--unfreeze must be an integer ≥ 0, got ${k}`);
  const list = choice === 'auto' || choice === 'all' ? undefined : Array.isArray(choice) ? choice : [choice];
  if (list) for (const m of list) if (!(ADAPT_METHODS as readonly string[]).includes(m)) throw new Error(`unknown adapt method "${m}" (methods: ${['auto', 'all', ...ADAPT_METHODS].join(', ')})`);
  // --unfreeze 0: every method on frozen features; the adabn ones re-estimate the whole backbone's BN.
  if (k === 0) return { methods: list ?? [...ADAPT_METHODS] };
  const cut = resolveCut(spec, { unfreeze: k });
  if (!list) return { methods: [...TAIL_METHODS], cut };
  const bad = list.filter((m) => !(TAIL_METHODS as readonly string[]).includes(m));
  if (bad.length) throw new Error(`--method ${bad.join(',')} runs on frozen features (--unfreeze 0); with --unfreeze ${k}: ${TAIL_METHODS.join(', ')}`);
  return { methods: list, cut };
}

/** `auto`, `all`, one method, or a comma-separated list of methods (e.g. `source-only,coral,adabn`). */
export function parseMethod(s: string): AdaptChoice {
  const all = ['auto', 'all', ...ADAPT_METHODS];
  const parts = s.split(',').map((p) => p.trim());
  for (const p of parts) if (!all.includes(p) || (parts.length > 1 && (p === 'auto' || p === 'all'))) throw new Error(`unknown adapt method "${p}" (methods: ${all.join(', ')}; or a comma-separated list of methods)`);
  return parts.length > 1 ? [...new Set(parts)] as AdaptMethod[] : (s as AdaptChoice);
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
    const criterion = o.selection ?? DEFAULT_SELECTION;
    if (sp.val.n < 2 && methods.length > 1) run.reporter.warn('the source validation split is too small for DEV: methods cannot be compared by DEV (raise --val-percent)');
    const results: Partial<Record<AdaptMethod, MethodResult>> = {};
    const fits: Partial<Record<AdaptMethod, MethodFit>> = {};
    const scores: Partial<Record<AdaptMethod, MethodScores>> = {};
    const weightCache = new Map<string, Float64Array | undefined>();
    const pool = new Map<AdaptMethod, Float32Array>();
    const adabn: { domains?: Promise<AdabnDomains> } = {};
    const single = methods.length === 1;
    try {
      for (const m of methods) {
        const tm = performance.now();
        run.reporter.info(`— ${m} —`);
        const fit = cut
          ? await TAIL_FITS[m as TailMethod](ctx)
          : (ADABN_METHODS as readonly string[]).includes(m)
            ? await wholeBackboneAdabn({ ...ctx, sourceSamples: sp.samples, testRows: sp.test, targetSamples: t.m.samples, images: o.adabnImages }, m as AdabnMethod, adabn, o)
            : await fitFeatureMethod(m as FeatureMethod, ctx, o, fits);
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
        if (!single) {
          // The target predictions of every method (n×k float32, the target's image order), for criteria computed afterwards.
          fs.mkdirSync(path.join(out, 'target-probabilities'), { recursive: true });
          writeFileAtomic(path.join(out, 'target-probabilities', `${m}.f32`), new Uint8Array(tgtProbs.buffer, tgtProbs.byteOffset, tgtProbs.byteLength));
          if (ev?.kind === 'target-folders' && m === methods[0]) writeFileAtomic(path.join(out, 'target-probabilities', 'labels.oracle.i32'), new Uint8Array(Int32Array.from(ev.y).buffer));
        }
        const target = ev && evalProbs ? evaluateScores(evalProbs, ev.y, run.ds.labels) : undefined;
        const sc = single ? undefined : await scoreMethod(domainViewOf(m, fit, ctx), weightCache, valProbs, sp.val.y, tgtProbs, ctx);
        if (sc) scores[m] = sc;
        if (!single) pool.set(m, tgtProbs);
        results[m] = {
          bundle,
          sourceValAccuracy: valProbs ? accuracyOf(valProbs, sp.val.y, k) : null,
          selectionScore: scoreOf(criterion, sc),
          devRisk: sc?.devRisk ?? null,
          devMeanWeight: sc?.meanWeight ?? null,
          snd: sc?.snd ?? NaN,
          im: sc?.im ?? NaN,
          bnm: sc?.bnm ?? NaN,
          ensv: null,
          targetAccuracy: target ? target.accuracy : null,
          targetEntropy: meanEntropy(tgtProbs, t.m.n, k),
          seconds: (performance.now() - tm) / 1000,
          target,
          details: { ...fit.details, history: fit.history },
        };
        const r = results[m]!;
        run.reporter.info(`${m}: source val ${fmtPct(r.sourceValAccuracy)}${sc ? `, DEV ${r.devRisk?.toFixed(4) ?? '—'} (mean weight ${r.devMeanWeight?.toPrecision(2) ?? '—'}), SND ${r.snd.toFixed(4)}, IM ${r.im.toFixed(4)}, BNM ${r.bnm.toFixed(4)}` : ''}${target ? `, target ${fmtPct(target.accuracy)} (oracle)` : ''} (${r.seconds.toFixed(1)} s)`);
      }
      // EnsV needs the whole pool: every method's target probabilities are in by now.
      const scored = methods.filter((m) => scores[m] && pool.has(m));
      ensembleAgreement(scored.map((m) => pool.get(m)!), t.m.n, k).forEach((a, i) => {
        scores[scored[i]!]!.ensv = a;
        results[scored[i]!]!.ensv = a;
      });
      for (const m of methods) if (scores[m]) results[m]!.selectionScore = scoreOf(criterion, scores[m]);
      const picks = Object.fromEntries(SELECTIONS.map((c) => [c, chooseBy(c, scores, methods)])) as Record<Selection, AdaptMethod | null>;
      const chosen = single ? methods[0] : (picks[criterion] ?? methods[0]);
      if (!single && criterion === 'dev') {
        // E[w] over source rows is 1 for a true density ratio; far below, the domain classifier separates the domains and DEV degenerates to plain source validation.
        const low = methods.filter((m) => (scores[m]?.meanWeight ?? 1) < 0.1);
        if (low.length) run.reporter.warn(`DEV is unreliable for ${low.join(', ')}: a domain classifier separates source and target almost perfectly in their representation (mean density ratio < 0.1 on source val, ideal 1), so their DEV risk is close to plain source validation error`);
      }
      const oracleBest = ev && !single ? methods.reduce((a, b) => (results[b]!.targetAccuracy! > results[a]!.targetAccuracy! ? b : a)) : null;
      const accOf = (m: AdaptMethod | null) => (m ? results[m]!.targetAccuracy! : NaN);
      fs.rmSync(ctx.checkpoint!, { recursive: true, force: true }); // finished: nothing left to resume
      const bundle = path.join(out, 'model');
      if (!single) await writeDirAtomic(bundle, (tmp) => fs.cpSync(results[chosen]!.bundle, tmp, { recursive: true }));
      const result: AdaptResult = {
        chosen,
        bundle,
        methods: results,
        selection: {
          criterion,
          chosenBy: single ? 'user' : criterion,
          picks,
          oracleBest,
          agreesWithOracle: oracleBest ? oracleBest === chosen : null,
          oracleAgreement: oracleBest ? (Object.fromEntries(SELECTIONS.map((c) => [c, picks[c] === oracleBest])) as Record<Selection, boolean>) : null,
          belowBest: oracleBest ? (Object.fromEntries(SELECTIONS.map((c) => [c, 100 * (accOf(oracleBest) - accOf(picks[c]))])) as Record<Selection, number>) : null,
        },
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
      if (adabn.domains) (await adabn.domains.catch(() => undefined))?.release();
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
