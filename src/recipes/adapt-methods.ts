/**
 * The methods of `graft adapt` on frozen backbone features, each a composition of `fitHead` (the
 * one Trainer) with a piece from strategies/adapt. Every method returns a head that takes raw
 * backbone features — of either domain — so each adapted bundle is an ordinary bundle.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { applyCoral, fitCoral } from '../strategies/adapt/coral.js';
import { buildDiscriminator, dannLr, dannObjective, representationAndLogits, representationDim } from '../strategies/adapt/dann.js';
import { argmaxRows, classBalancedPseudoLabels, pseudoAgreement, type PseudoLabels } from '../strategies/adapt/pseudo.js';
import { columnStats, standardize } from '../train/heads.js';
import type { EpochLogs, Examples } from '../train/trainer.js';
import type { Reporter } from '../util/log.js';
import type { BundleMeta } from '../bundle/bundle.js';
import { tf } from '../engine/tfjs.js';
import { headProbabilities } from './run.js';
import type { DomainView } from './adapt-select.js';
import { fitHead, type FittedHead, type HeadFitOptions } from './train.js';

/** Every method of frozen-feature runs, in the order `all` trains them (stacks after what they start from). */
export const ADAPT_METHODS = ['source-only', 'coral', 'dann', 'self-train', 'coral+self-train', 'dann+self-train', 'adabn', 'adabn+coral', 'adabn+self-train', 'adabn+coral+self-train'] as const;
/** Every method name (with --unfreeze K: source-only, coral, dann, adabn on the fine-tuned tail). */
export type AdaptMethod = (typeof ADAPT_METHODS)[number];

/** What every method sees: source splits (labelled) and the target rows (labels unused). */
export interface AdaptContext {
  train: Examples;
  val: Examples;
  target: { x: Float32Array; n: number; dim: number };
  numClasses: number;
  head: HeadFitOptions;
  seed: number;
  reporter: Reporter;
  /** Where DANN checkpoints after every epoch (and resumes from with `resume`). */
  checkpoint?: string;
  resume?: boolean;
}

export interface MethodFit {
  /** Rows (backbone features, or flattened cut activations) → logits. */
  model: tfl.LayersModel;
  /** What the bundle records of the model. */
  head: BundleMeta['head'];
  history: EpochLogs[];
  /** Training settings for the bundle's meta. */
  training: Record<string, unknown>;
  /** The source validation rows as this method's head saw source data (CORAL: re-coloured). */
  valView: Examples;
  /** The source train rows as this method's head saw them (CORAL: re-coloured); none: the context's. */
  trainView?: Examples;
  /** Both domains' rows in this method's representation when they are no function of the backbone rows (AdaBN). */
  domainView?: Omit<DomainView, 'key'>;
  /** Method settings and diagnostics for adapt.json and the report. */
  details: Record<string, unknown>;
  /**
   * Rows of either domain → the representation in which this method aligned the domains (CORAL:
   * re-coloured source rows, target rows as they are; DANN: the hidden layer). None: the backbone's.
   */
  represent?: (x: Float32Array, n: number, domain: 'source' | 'target') => { x: Float32Array; dim: number };
  /** Free what the model depends on besides itself (a fine-tuned tail's copy of the network). */
  release?: () => void;
}

export interface MethodSettings {
  coralLambda?: number;
  dannHidden?: number;
  dannEpochs?: number;
  dannLr?: number;
  selfTrainRounds?: number;
}

/**
 * Column statistics of source and target rows together: the adapted heads standardise with them,
 * so a feature the source never uses (zero variance there) is not scaled up a millionfold on the
 * target, where it may be active.
 */
export function pooledStats(a: { x: Float32Array; n: number }, b: { x: Float32Array; n: number }, dim: number): { mean: Float32Array; std: Float32Array } {
  const x = new Float32Array((a.n + b.n) * dim);
  x.set(a.x.subarray(0, a.n * dim));
  x.set(b.x.subarray(0, b.n * dim), a.n * dim);
  return columnStats(x, a.n + b.n, dim);
}

/**
 * A private copy of rows for fitHead, which standardises its rows in place and undoes it after:
 * the undo is not bit-exact, and every method of one run must see the same source rows.
 */
export const copy = (e: Examples): Examples => ({ ...e, x: e.x.slice(0, e.n * e.dim), y: e.y.slice() });

/** A fitted head as a method's result. */
function fromHead(f: FittedHead, rest: Omit<MethodFit, 'model' | 'head' | 'history' | 'training'>): MethodFit {
  return { model: f.head, head: f.spec, history: f.history, training: { optimizer: f.optimizer, weightDecay: f.weightDecay }, ...rest };
}

export async function sourceOnly(c: AdaptContext): Promise<MethodFit> {
  const fitted = await fitHead(copy(c.train), copy(c.val), c.numClasses, { ...c.head, seed: c.seed }, c.reporter);
  return fromHead(fitted, { valView: c.val, details: {} });
}

export async function coral(c: AdaptContext, s: MethodSettings): Promise<MethodFit> {
  const lambda = s.coralLambda ?? 1;
  const t0 = performance.now();
  const map = fitCoral(c.train, c.target, c.train.dim, lambda);
  c.reporter.info(`coral: covariance square roots in ${map.iterations} Newton–Schulz iterations (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const train = { ...c.train, x: applyCoral(map, c.train.x, c.train.n) };
  const val = { ...c.val, x: applyCoral(map, c.val.x, c.val.n) };
  const fitted = await fitHead(train, val, c.numClasses, { ...c.head, seed: c.seed, standardizeWith: pooledStats(train, c.target, c.train.dim) }, c.reporter);
  return fromHead(fitted, {
    valView: val,
    trainView: train,
    details: { lambda, iterations: map.iterations },
    represent: (x, n, domain) => ({ x: domain === 'source' ? applyCoral(map, x, n) : x, dim: c.train.dim }),
  });
}

export async function dann(c: AdaptContext, s: MethodSettings): Promise<MethodFit> {
  const hidden = s.dannHidden ?? 256;
  const lr = s.dannLr ?? 1e-3;
  const discriminator = buildDiscriminator(hidden, 256, c.seed + 101);
  const history: EpochLogs[] = [];
  try {
    const fitted = await fitHead(
      copy(c.train),
      copy(c.val),
      c.numClasses,
      {
        ...c.head,
        head: 'mlp',
        hidden: [hidden],
        dropout: c.head.dropout ?? 0.2,
        optimizer: 'adamw',
        lr,
        epochs: s.dannEpochs ?? 40,
        patience: 0,
        seed: c.seed,
        standardizeWith: pooledStats(c.train, c.target, c.train.dim),
        objective: ({ mean, std }) => dannObjective({ target: { ...c.target, x: standardize(c.target.x, c.target.n, c.target.dim, mean, std) }, discriminator, seed: c.seed }),
        trainer: {
          lrAt: dannLr(lr),
          restoreBest: false, // the last epoch is the adapted one; source accuracy alone would pick an early, unadapted epoch
          callbacks: [{ onEpochEnd: (l) => void history.push(l) }],
          ...(c.checkpoint ? { checkpoint: { path: c.checkpoint }, resume: c.resume } : {}),
        },
      },
      c.reporter,
    );
    const domainAccuracy = fitted.history.map((h) => h.terms?.domainAccuracy ?? NaN);
    return fromHead(fitted, {
      valView: c.val,
      details: { hidden, lr, epochs: fitted.history.length, domainAccuracy, finalDomainAccuracy: domainAccuracy[domainAccuracy.length - 1] },
      represent: (x, n) => hiddenRows(fitted.head, x, n, c.train.dim),
    });
  } finally {
    discriminator.dispose();
  }
}

/** The hidden representation (every layer but the classifier) of rows, chunked. */
export function hiddenRows(head: tfl.LayersModel, x: Float32Array, n: number, dim: number): { x: Float32Array; dim: number } {
  const hidden = representationDim(head);
  const out = new Float32Array(n * hidden);
  for (let s = 0; s < n; s += 512) {
    const e = Math.min(n, s + 512);
    const h = tf.tidy(() => representationAndLogits(head, tf.tensor2d(x.subarray(s * dim, e * dim), [e - s, dim]), false).h);
    out.set(h.dataSync() as Float32Array, s * hidden);
    h.dispose();
  }
  return { x: out, dim: hidden };
}

/**
 * Self-training with class-balanced pseudo-labels (CBST): start from the source-only head; each
 * round pseudo-labels the most confident share of each predicted class of the target (the share
 * grows 20% → 80%), refits on source + pseudo-labelled target, and stops when the pseudo-labels
 * stop changing (≥ 99.5% agreement) or after `rounds`.
 */
export async function selfTrain(c: AdaptContext, s: MethodSettings, start?: MethodFit): Promise<MethodFit> {
  const rounds = s.selfTrainRounds ?? 6;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`self-train rounds must be an integer ≥ 1, got ${rounds}`);
  const k = c.numClasses;
  const { dim } = c.train;
  const first = start ?? (await sourceOnly(c));
  let model = first.model;
  let last: FittedHead | undefined;
  let owned = start === undefined;
  let prev: PseudoLabels | undefined;
  const stats = pooledStats(c.train, c.target, dim);
  // The source-only head's L2 strength, kept for every round (no search per round).
  const headOpts = { ...c.head, seed: c.seed, standardizeWith: stats, weightDecay: c.head.weightDecay ?? (first.training.weightDecay as number | undefined) };
  const log: { round: number; portion: number; kept: number; perClass: number[]; agreement: number | null; sourceValAccuracy: number | null }[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const portion = Math.min(0.8, 0.2 * (r + 1));
      const probs = headProbabilities(model, c.target.x, c.target.n, dim);
      const pl = classBalancedPseudoLabels(probs, c.target.n, k, portion);
      const agreement = prev ? pseudoAgreement(prev, pl, c.target.n) : null;
      if (agreement !== null && agreement >= 0.995 && portion === 0.8) break;
      prev = pl;
      const m = c.train.n + pl.idx.length;
      const x = new Float32Array(m * dim);
      x.set(c.train.x.subarray(0, c.train.n * dim));
      pl.idx.forEach((i, j) => x.set(c.target.x.subarray(i * dim, (i + 1) * dim), (c.train.n + j) * dim));
      const y = new Int32Array(m);
      y.set(c.train.y);
      y.set(pl.labels, c.train.n);
      const next = await fitHead({ x, y, n: m, dim }, copy(c.val), k, headOpts, c.reporter);
      if (owned) model.dispose();
      last = next;
      model = next.head;
      owned = true;
      const vp = c.val.n ? headProbabilities(model, c.val.x, c.val.n, dim) : undefined;
      const valAcc = vp ? accuracyOf(vp, c.val.y, k) : null;
      log.push({ round: r + 1, portion, kept: pl.idx.length, perClass: pl.counts, agreement, sourceValAccuracy: valAcc });
      c.reporter.info(`self-train round ${r + 1}: ${pl.idx.length} pseudo-labels (${Math.round(100 * portion)}% of each class)${agreement !== null ? `, ${(100 * agreement).toFixed(1)}% unchanged` : ''}`);
    }
  } catch (e) {
    if (owned) model.dispose();
    throw e;
  }
  return fromHead(last!, { valView: c.val, details: { rounds: log } });
}

export function accuracyOf(probs: Float32Array, y: ArrayLike<number>, k: number): number {
  const { label } = argmaxRows(probs, y.length, k);
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (label[i] === y[i]) ok++;
  return ok / Math.max(1, y.length);
}
