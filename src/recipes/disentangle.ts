/**
 * `graft disentangle`: Domain Separation Networks on backbone features of a labelled source folder
 * and an unlabelled target folder. A shared encoder (the bundle: shared code → classifier), a
 * private encoder per domain and a shared decoder are trained by the one Trainer under the DSN
 * objective; linear probes then measure what each code carries (class and domain), and the
 * bundle's target accuracy (when target labels exist, oracle only) is set next to source-only and
 * DANN trained on the same rows and seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Skipped } from '../data/types.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { evaluateScores, type Evaluation } from '../eval/metrics.js';
import { buildDsnModules, DSN_DEFAULTS, dsnObjective, type DsnModules, type DsnWeights, type SimilarityLoss } from '../strategies/disentangle/dsn.js';
import { classProbe, domainProbe, type Rows } from '../strategies/disentangle/probes.js';
import { dannLr } from '../strategies/adapt/dann.js';
import { standardize } from '../train/heads.js';
import type { EpochLogs, Examples } from '../train/trainer.js';
import { writeFileAtomic } from '../util/fs.js';
import { accuracyOf, copy, dann, hiddenRows, pooledStats, sourceOnly, type AdaptContext } from './adapt-methods.js';
import { disentangleReport } from './disentangle-report.js';
import { evaluationRows, targetRows } from './domain-rows.js';
import { finishRun, headProbabilities, openFeatureRun, type RunOptions } from './run.js';
import { fitHead } from './train.js';

export interface DisentangleOptions extends Omit<RunOptions, 'data' | 'report'>, DsnWeights {
  /** Labelled source ImageFolder. */
  source: string;
  /** Target images: a flat folder, or class folders whose names are ignored for training. */
  target: string;
  /** Labelled target images, for evaluation only. */
  targetTest?: string;
  /** Width of the encoders' hidden layer (default 256) and of the codes (default 64). */
  hidden?: number;
  code?: number;
  /** Dropout on the shared encoder (default 0: the shared code also feeds the decoder and the difference loss). */
  dropout?: number;
  /** Epochs over the source rows (default 40), initial learning rate (default 1e-3, annealed as DANN's). */
  epochs?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
  /**
   * How the shared codes of the two domains are made alike: 'mmd' (default; measured on MNIST →
   * font digits it brought the shared code's domain probe to chance, where gradient reversal left
   * it at ~90%) or 'dann' (gradient reversal into a discriminator).
   */
  similarityLoss?: SimilarityLoss;
  /** Also train source-only and DANN on the same rows and seed (default true). */
  baselines?: boolean;
  /** Continue an interrupted run from OUT/.dsn.ckpt. */
  resume?: boolean;
}

/** Accuracy of a linear probe for the classes (source val) and for the domain (balanced; chance 0.5). */
export interface ProbePair {
  class: number | null;
  domain: number;
}

export interface DisentangleResult {
  bundle: string;
  probes: { shared: ProbePair; private: ProbePair; backbone: ProbePair };
  /** Oracle numbers on target labels (null without them). */
  targetAccuracy: number | null;
  sourceOnlyTargetAccuracy: number | null;
  dannTargetAccuracy: number | null;
  sourceValAccuracy: number | null;
  target: Evaluation | null;
  settings: { hidden: number; code: number; dropout: number; epochs: number; lr: number; weights: Required<DsnWeights>; similarityLoss: SimilarityLoss; seed: number };
  source: { folder: string; images: number; train: number; val: number; test: number; skipped: Skipped[] };
  targetData: { folder: string; images: number; skipped: Skipped[]; labels: 'target-test' | 'target-folders' | null; evaluated: number };
  backbone: { name: string; dim: number };
  history: EpochLogs[];
  report: string;
  disentangleJson: string;
  seconds: number;
}

/** A cheap fingerprint of a feature row, to notice a target that is the source again. */
const rowKey = (x: Float32Array, i: number, dim: number) => Array.from(x.subarray(i * dim, i * dim + Math.min(dim, 16)), (v) => v.toFixed(5)).join(',');

function checkTwoDomains(o: DisentangleOptions, train: Examples, target: Rows): void {
  if (path.resolve(o.source) === path.resolve(o.target) || (fs.existsSync(o.target) && fs.existsSync(o.source) && fs.realpathSync(o.source) === fs.realpathSync(o.target))) {
    throw new Error(`disentangle needs two domains: --source and --target are the same folder (${o.target})`);
  }
  const seen = new Set<string>();
  for (let i = 0; i < train.n; i++) seen.add(rowKey(train.x, i, train.dim));
  let same = 0;
  for (let i = 0; i < target.n; i++) if (seen.has(rowKey(target.x, i, target.dim))) same++;
  if (same === target.n) throw new Error(`disentangle needs two domains: every image in ${o.target} is also in the source's training split`);
}

/** Rows through a private encoder (rows standardised as the model's were), chunked. */
function encodeRows(enc: tfl.LayersModel, x: Float32Array, n: number, dim: number, stats: { mean: Float32Array; std: Float32Array }): Rows {
  const z = standardize(x, n, dim, stats.mean, stats.std);
  const code = (enc.outputs[0]!.shape[1] as number) ?? 0;
  const out = new Float32Array(n * code);
  for (let s = 0; s < n; s += 512) {
    const e = Math.min(n, s + 512);
    const h = tf.tidy(() => enc.predict(tf.tensor2d(z.subarray(s * dim, e * dim), [e - s, dim])) as tf.Tensor);
    out.set(h.dataSync() as Float32Array, s * code);
    h.dispose();
  }
  return { x: out, n, dim: code };
}

const labelled = (r: Rows, y: Int32Array): Examples => ({ ...r, y });

export async function disentangle(o: DisentangleOptions): Promise<DisentangleResult> {
  const t0 = performance.now();
  const out = path.resolve(o.out);
  const hidden = o.hidden ?? 256;
  const code = o.code ?? 64;
  const dropout = o.dropout ?? 0;
  const epochs = o.epochs ?? 40;
  const lr = o.lr ?? 1e-3;
  const seed = o.seed ?? 0;
  const similarityLoss = o.similarityLoss ?? 'mmd';
  for (const [k, v] of Object.entries({ hidden, code, epochs })) if (!(Number.isInteger(v) && v >= 1)) throw new Error(`disentangle: --${k} must be an integer ≥ 1, got ${v}`);
  const weights = { ...DSN_DEFAULTS, ...Object.fromEntries(Object.entries({ recon: o.recon, difference: o.difference, similarity: o.similarity }).filter(([, v]) => v !== undefined)) } as Required<DsnWeights>;
  const run = await openFeatureRun({ ...o, data: o.source, report: undefined });
  let modules: DsnModules | undefined;
  try {
    const t = await targetRows(o, run);
    const sp = run.splits;
    const target = { x: t.m.data, n: t.m.n, dim: run.dim };
    checkTwoDomains(o, sp.train, target);
    const ev = await evaluationRows(o, run, t);
    const k = run.ds.labels.length;
    const dim = run.dim;
    modules = buildDsnModules(dim, hidden, code, seed);
    let stats: { mean: Float32Array; std: Float32Array } | undefined;
    const checkpoint = path.join(out, '.dsn.ckpt');
    const m = modules;
    run.reporter.info(`— disentangle (DSN: α recon ${weights.recon}, β difference ${weights.difference}, γ similarity ${weights.similarity}) —`);
    const fitted = await fitHead(
      copy(sp.train),
      copy(sp.val),
      k,
      {
        head: 'mlp',
        hidden: [hidden, code],
        dropout,
        optimizer: 'adamw',
        lr,
        epochs,
        patience: 0,
        weightDecay: o.weightDecay,
        seed,
        standardizeWith: pooledStats(sp.train, target, dim),
        objective: (s) => {
          stats = s;
          return dsnObjective({ target: { ...target, x: standardize(target.x, target.n, dim, s.mean, s.std) }, modules: m, seed, similarityLoss, ...weights });
        },
        trainer: { lrAt: dannLr(lr), restoreBest: false, checkpoint: { path: checkpoint }, resume: o.resume },
      },
      run.reporter,
    );
    const history = fitted.history; // with --resume: the epochs before the checkpoint too
    try {
      // What each code carries: probes on source train → source val (class) and source vs target (domain).
      const shared = (x: Float32Array, n: number) => ({ ...hiddenRows(fitted.head, x, n, dim), n });
      const sTrain = shared(sp.train.x, sp.train.n);
      const sVal = shared(sp.val.x, sp.val.n);
      const sTgt = shared(target.x, target.n);
      const pTrain = encodeRows(m.privateSource, sp.train.x, sp.train.n, dim, stats!);
      const pVal = encodeRows(m.privateSource, sp.val.x, sp.val.n, dim, stats!);
      const pTgt = encodeRows(m.privateTarget, target.x, target.n, dim, stats!);
      const probe = async (tr: Rows, va: Rows, tg: Rows): Promise<ProbePair> => ({
        class: await classProbe(labelled(tr, sp.train.y), labelled(va, sp.val.y), k),
        domain: await domainProbe(tr, tg, seed),
      });
      run.reporter.info('probing the codes (class: source train → val; domain: source vs target)');
      const probes = {
        shared: await probe(sTrain, sVal, sTgt),
        private: await probe(pTrain, pVal, pTgt),
        backbone: await probe({ ...sp.train }, { ...sp.val }, target),
      };
      const evalOf = (head: tfl.LayersModel) => (ev ? evaluateScores(headProbabilities(head, ev.x, ev.n, dim), ev.y, run.ds.labels) : null);
      const targetEval = evalOf(fitted.head);
      const sourceValAccuracy = sp.val.n ? accuracyOf(headProbabilities(fitted.head, sp.val.x, sp.val.n, dim), sp.val.y, k) : null;
      let sourceOnlyTargetAccuracy: number | null = null;
      let dannTargetAccuracy: number | null = null;
      if (ev && o.baselines !== false) {
        const ctx: AdaptContext = { train: sp.train, val: sp.val, target, numClasses: k, head: { dropout }, seed, reporter: run.reporter };
        for (const [name, fit] of [['source-only', () => sourceOnly(ctx)], ['dann', () => dann(ctx, { dannHidden: hidden, dannEpochs: epochs, dannLr: lr })]] as const) {
          run.reporter.info(`— baseline: ${name} —`);
          const f = await fit();
          try {
            const acc = evalOf(f.model)!.accuracy;
            if (name === 'source-only') sourceOnlyTargetAccuracy = acc;
            else dannTargetAccuracy = acc;
          } finally {
            f.model.dispose();
          }
        }
      }
      const bundle = path.join(out, 'model');
      const settings = { hidden, code, dropout, epochs, lr, weights, similarityLoss, seed };
      await finishRun(run, { ...o, data: o.source, out: bundle, report: undefined }, fitted.head, {
        head: fitted.spec,
        training: { recipe: 'disentangle', method: 'dsn', target: path.resolve(o.target), optimizer: fitted.optimizer, weightDecay: fitted.weightDecay, ...settings },
        history,
      });
      const result: DisentangleResult = {
        bundle,
        probes,
        targetAccuracy: targetEval?.accuracy ?? null,
        sourceOnlyTargetAccuracy,
        dannTargetAccuracy,
        sourceValAccuracy,
        target: targetEval,
        settings,
        source: { folder: o.source, images: run.used, train: sp.train.n, val: sp.val.n, test: sp.test.n, skipped: run.skipped },
        targetData: { folder: o.target, images: t.m.n, skipped: t.skipped, labels: ev?.kind ?? null, evaluated: ev?.n ?? 0 },
        backbone: { name: run.backbone.spec.name, dim },
        history,
        report: path.join(out, 'report.html'),
        disentangleJson: path.join(out, 'disentangle.json'),
        seconds: 0,
      };
      result.seconds = (performance.now() - t0) / 1000;
      writeFileAtomic(result.disentangleJson, JSON.stringify(result, null, 1));
      fs.rmSync(checkpoint, { recursive: true, force: true }); // finished: nothing left to resume
      await disentangleReport(out, result, {
        labels: run.ds.labels,
        sourceY: sp.train.y,
        targetY: ev?.kind === 'target-folders' ? ev.y : undefined,
        spaces: [
          { name: 'backbone features', source: sp.train, target },
          { name: 'shared code', source: sTrain, target: sTgt },
          { name: 'private code', source: pTrain, target: pTgt },
        ],
        seed,
      });
      return result;
    } finally {
      fitted.head.dispose();
    }
  } finally {
    if (modules) for (const x of Object.values(modules)) x.dispose();
    await run.backbone.dispose();
  }
}
