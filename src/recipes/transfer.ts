/**
 * `graft transfer`: the seed's two-stage recipe as one call.
 *  1. source: a pretrained CNN with a new last layer for the source classes, fine-tuned
 *     (`graft finetune`), saved;
 *  2. target: that bundle's whole network reloaded and frozen, its classifier dropped, a new head
 *     trained for the target classes (`graft train --from <source bundle> --freeze all`), saved.
 * Optionally (`baseline`) a third, reference run: the same head on the pretrained backbone's own
 * features, to see what the source stage bought.
 */
import path from 'node:path';
import { finetuneClassifier, type FinetuneOptions } from './finetune.js';
import { trainClassifier, type TrainOptions } from './train.js';
import type { RunResult } from './run.js';
import type { Evaluation } from '../eval/metrics.js';
import type { EngineName } from '../models/types.js';
import type { HeadKind } from '../train/heads.js';
import { writeFileAtomic } from '../util/fs.js';
import { loadDataset } from '../data/index.js';
import { writeRunReport } from '../report/html.js';
import { runReportInput } from '../report/run-input.js';
import { silentReporter, type Reporter } from '../util/log.js';

export interface TransferOptions {
  /** Source dataset (stage 1) and target dataset (stage 2). */
  source: string;
  target: string;
  /** Output folder: `source/` and `target/` bundles (+ `baseline/`) and `transfer.json`. */
  out: string;
  sourceClasses?: string[];
  targetClasses?: string[];
  sourceLimitPerClass?: number;
  targetLimitPerClass?: number;
  backbone?: string;
  weights?: string;
  /** Blocks fine-tuned on the source (default 2). */
  sourceUnfreeze?: number;
  sourceEpochs?: number;
  sourceFreezeEpochs?: number;
  sourceLr?: number;
  /** Target head (default linear, L2 chosen on validation). */
  targetHead?: HeadKind;
  /** Also train the target head on the pretrained backbone directly (reference). */
  baseline?: boolean;
  valPercent?: number;
  testPercent?: number;
  seed?: number;
  /** Continue an interrupted stage 1 from its per-epoch checkpoint (OUT/source.ckpt). */
  resume?: boolean;
  engine?: EngineName;
  threads?: number;
  strict?: boolean;
  reporter?: Reporter;
}

export interface StageSummary {
  bundle: string;
  data: string;
  labels: string[];
  backbone: RunResult['backbone'];
  images: { train: number; val: number; test: number };
  val?: Pick<Evaluation, 'accuracy' | 'macroF1' | 'n'>;
  test?: Pick<Evaluation, 'accuracy' | 'macroF1' | 'n'>;
  seconds: number;
}

export interface TransferResult {
  source: StageSummary;
  target: StageSummary;
  baseline?: StageSummary;
  /** The file this summary was also written to. */
  summary: string;
  /** report.html of the whole run (both stages). */
  report: string;
  seconds: number;
  /** Full results of each stage (histories, confusion matrices…); not in transfer.json. */
  runs: { source: RunResult; target: RunResult; baseline?: RunResult };
}

function stage(r: RunResult, data: string): StageSummary {
  const pick = (e?: Evaluation) => e && { accuracy: e.accuracy, macroF1: e.macroF1, n: e.n };
  return { bundle: r.bundle, data, labels: r.labels, backbone: r.backbone, images: { train: r.data.train, val: r.data.val, test: r.data.test }, val: pick(r.val), test: pick(r.test), seconds: r.seconds };
}

export async function transferRecipe(o: TransferOptions): Promise<TransferResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  const common = { valPercent: o.valPercent, testPercent: o.testPercent, seed: o.seed, engine: o.engine, threads: o.threads, strict: o.strict, reporter };
  reporter.info(`stage 1/2: fine-tune on the source ${o.source}`);
  const srcOpts: FinetuneOptions = {
    ...common,
    data: o.source,
    out: path.join(o.out, 'source'),
    classes: o.sourceClasses,
    limitPerClass: o.sourceLimitPerClass,
    backbone: o.backbone,
    weights: o.weights,
    unfreeze: o.sourceUnfreeze,
    epochs: o.sourceEpochs,
    freezeEpochs: o.sourceFreezeEpochs,
    lr: o.sourceLr,
    resume: o.resume,
  };
  const source = await finetuneClassifier(srcOpts);
  reporter.info(`stage 2/2: freeze the source network, new ${o.targetHead ?? 'linear'} head on the target ${o.target}`);
  const tgtOpts: Omit<TrainOptions, 'out'> = { ...common, data: o.target, classes: o.targetClasses, limitPerClass: o.targetLimitPerClass, head: o.targetHead };
  const target = await trainClassifier({ ...tgtOpts, from: source.bundle, out: path.join(o.out, 'target') });
  let baseline: RunResult | undefined;
  if (o.baseline) {
    reporter.info(`reference: the same head on ${source.backbone.name}'s own features`);
    baseline = await trainClassifier({ ...tgtOpts, backbone: o.backbone, weights: o.weights, out: path.join(o.out, 'baseline') });
  }
  const summaryFile = path.join(o.out, 'transfer.json');
  const res = {
    source: stage(source, o.source),
    target: stage(target, o.target),
    ...(baseline ? { baseline: stage(baseline, o.target) } : {}),
    summary: summaryFile,
    seconds: (performance.now() - t0) / 1000,
  };
  writeFileAtomic(summaryFile, JSON.stringify(res, null, 2) + '\n');
  // The report: the target run in full (its misclassified images need the target's samples), both stages' curves.
  const ds = await loadDataset(o.target, { ...common, classes: o.targetClasses, limitPerClass: o.targetLimitPerClass });
  const stageOf = (name: string, r: RunResult, data: string) => ({ name: `${name}: ${data} (${r.labels.length} classes)`, history: r.history, val: r.val, test: r.test, summary: { bundle: r.bundle, 'test accuracy': r.test ? `${(100 * r.test.accuracy).toFixed(2)}%` : 'n/a' } });
  const report = await writeRunReport(
    o.out,
    runReportInput(target, ds.samples, {
      kind: 'transfer',
      title: `graft transfer: ${o.source} → ${o.target}`,
      config: { source: o.source, target: o.target, backbone: source.backbone.name, sourceUnfreeze: o.sourceUnfreeze ?? 2, targetHead: o.targetHead ?? 'linear' },
      summary: baseline?.test ? { 'baseline test accuracy (head on the pretrained backbone)': `${(100 * baseline.test.accuracy).toFixed(2)}%` } : {},
      stages: [stageOf('source', source, o.source), stageOf('target', target, o.target), ...(baseline ? [stageOf('baseline', baseline, o.target)] : [])],
    }),
  );
  return { ...res, report: report.html, runs: { source, target, ...(baseline ? { baseline } : {}) } };
}
