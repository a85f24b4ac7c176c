/**
 * The shared skeleton of every recipe that trains on backbone outputs (train, finetune, and the
 * strategies to come): dataset → backbone (to its feature layer or a cut point) → cached rows →
 * splits; then, once a model is trained, evaluation of every split and an atomic bundle.
 */
import path from 'node:path';
import { tf, initTf } from '../engine/tfjs.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadDataset } from '../data/index.js';
import type { Dataset, LoadOptions, Skipped } from '../data/types.js';
import { openBackboneSpec } from '../models/backbone.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import { resolveBackbone } from '../models/resolve.js';
import { bundleSpec, EMBEDDED_FROM } from '../models/bundle-backbone.js';
import type { Backbone, BackboneSpec, EngineName } from '../models/types.js';
import { evaluateScores, type Evaluation } from '../eval/metrics.js';
import { saveBundle, type BundleMeta } from '../bundle/bundle.js';
import { writeRunReport } from '../report/html.js';
import { misclassifiedSamples, runReportInput } from '../report/run-input.js';
import type { EpochLogs, Examples } from '../train/trainer.js';
import { isBatchSource, sourceProbabilities, type BatchSource } from '../train/source.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { datasetFeatures, splitRows, type SplitExamples } from './features.js';

export interface RunOptions extends LoadOptions {
  data: string;
  out: string;
  backbone?: string;
  /** Backbone weights: a .pth/.safetensors file, 'imagenet', or the backbone tag's default. */
  weights?: string;
  engine?: EngineName;
  threads?: number;
  reporter?: Reporter;
  /**
   * Start from a trained bundle's whole network instead of a registry backbone (the seed's second
   * stage): its classifier is dropped, everything else is frozen, a new head is trained. The new
   * bundle embeds a copy of this one.
   */
  from?: string;
  /** Also write a self-contained report.html (+ PNG plots) into this folder. */
  report?: string;
}

/** The backbone spec a run uses: `from` (a bundle as a backbone), a registry name or a model file. */
export async function runSpec(o: Pick<RunOptions, 'from' | 'backbone'>): Promise<BackboneSpec> {
  if (o.from !== undefined) {
    if (o.backbone !== undefined) throw new Error(`give either --from ${o.from} or --backbone ${o.backbone}, not both (a bundle brings its own backbone)`);
    return bundleSpec(o.from);
  }
  return resolveBackbone(o.backbone ?? DEFAULT_BACKBONE);
}

export interface FeatureRun {
  ds: Dataset;
  backbone: Backbone;
  splits: SplitExamples;
  dim: number;
  used: number;
  skipped: Skipped[];
  computed: number;
  cached: number;
  featureSeconds: number;
  reporter: Reporter;
  t0: number;
}

/** A test image the trained model got wrong: `file` is the sample id (the path inside the data folder, '/'-separated). */
export interface MisclassifiedFile {
  file: string;
  actual: string;
  predicted: string;
  /** Probability the model gave its (wrong) prediction. */
  p: number;
}

/** At most this many misclassified test images are listed (most confident mistakes first). */
export const MAX_MISCLASSIFIED = 100;

/** Common result fields of a recipe that trains on backbone outputs. */
export interface RunResult {
  bundle: string;
  labels: string[];
  backbone: { name: string; engine: EngineName; dim: number; layer: string };
  data: { used: number; skipped: Skipped[]; train: number; val: number; test: number };
  /** computed/cached rows; forwardPasses counts images the backbone actually ran (0 on a warm rerun). */
  features: { computed: number; cached: number; forwardPasses: number; seconds: number };
  history: EpochLogs[];
  val?: Evaluation;
  test?: Evaluation;
  /** Test images the model got wrong, most confident first (at most MAX_MISCLASSIFIED; also in the bundle's metrics.test). */
  misclassified?: MisclassifiedFile[];
  /** Test-split probabilities straight from the trained model (row i ↔ ids[i]); not printed by the CLI. */
  testProbabilities?: { ids: string[]; probs: Float32Array };
  seconds: number;
  /** Peak resident memory of this process so far. */
  peakRssMB: number;
  /** report.html, when one was asked for. */
  report?: string;
}

/**
 * Softmax probabilities of a model on rows, n×k row-major. Runs in chunks so the tfjs (wasm)
 * heap, which never shrinks, does not grow with the number of images.
 */
export function headProbabilities(head: tfl.LayersModel, x: Float32Array, n: number, dim: number, chunk = 512): Float32Array {
  const k = head.outputs[0].shape[head.outputs[0].shape.length - 1] as number;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const p = tf.tidy(() => tf.softmax(head.predict(tf.tensor2d(x.subarray(s * dim, e * dim), [e - s, dim])) as tf.Tensor2D));
    out.set(p.dataSync() as Float32Array, s * k);
    p.dispose();
  }
  return out;
}

/** Load the data, open the backbone (to `layer`, default its feature layer) and get every row. */
export async function openFeatureRun(o: RunOptions, layer?: string): Promise<FeatureRun> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  await initTf();
  const ds = await loadDataset(o.data, o);
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (ds.audioAuto) reporter.info(`--duration auto: ${ds.audioAuto.seconds} s clips, the median of ${ds.audioAuto.files} training files`);
  const backbone = await openBackboneSpec(await runSpec(o), { engine: o.engine, threads: o.threads, weights: o.weights, layer });
  try {
    reporter.info(`${ds.samples.length} images, ${ds.labels.length} classes; backbone ${backbone.spec.name} to ${backbone.layer} on ${backbone.engine}`);
    const tf0 = performance.now();
    const feats = await datasetFeatures(ds, backbone, { reporter, strict: o.strict });
    const featureSeconds = (performance.now() - tf0) / 1000;
    for (const s of feats.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
    reporter.info(`features: ${feats.computed} computed, ${feats.cached} from cache (${featureSeconds.toFixed(1)} s)`);
    const { n: used, dim, computed, cached } = feats;
    const splits = splitRows(feats, { release: true }); // rows are held once, in the splits
    if (splits.train.n === 0) throw new Error(`${o.data}: no training images left after the split`);
    if (new Set(splits.train.y).size < 2) throw new Error(`${o.data}: the training split holds fewer than 2 classes`);
    return { ds, backbone, splits, dim, used, skipped: [...ds.skipped, ...feats.skipped], computed, cached, featureSeconds, reporter, t0 };
  } catch (e) {
    await backbone.dispose();
    throw e;
  }
}

/** Rows of every split: cached features in memory, or a source streaming them (e.g. decoded images). */
export interface RunSplits {
  train: Examples | BatchSource;
  val: Examples | BatchSource;
  test: Examples | BatchSource;
  samples: SplitExamples['samples'];
}

/** Evaluate `model` (rows → logits) on every split, save the bundle, and build the common result. */
export async function finishRun(
  run: Omit<FeatureRun, 'splits'> & { splits: RunSplits },
  o: RunOptions,
  model: tfl.LayersModel,
  extra: {
    head: BundleMeta['head'];
    training: Record<string, unknown>;
    history: EpochLogs[];
    files?: Record<string, Uint8Array>;
    /** How the run's splits are scored when `model` does not take their rows (whole-backbone AdaBN: the source network + head). */
    probabilities?: (e: Examples | BatchSource) => Promise<Float32Array>;
  },
): Promise<RunResult> {
  const { ds, backbone, splits: sp } = run;
  const probsOf = extra.probabilities ?? (async (e: Examples | BatchSource) => (isBatchSource(e) ? sourceProbabilities(model, e) : headProbabilities(model, e.x, e.n, e.dim)));
  const evalSplit = async (e: Examples | BatchSource, probs?: Float32Array) => (e.n ? evaluateScores(probs ?? (await probsOf(e)), e.y, ds.labels) : undefined);
  const val = await evalSplit(sp.val);
  const testProbs = await probsOf(sp.test);
  const test = await evalSplit(sp.test, testProbs);
  const trainEval = await evalSplit(sp.train);
  const testIds = sp.samples.test.map((s) => s.id);
  const misclassified = test
    ? misclassifiedSamples({ ids: testIds, probs: testProbs }, ds.labels, sp.samples.test)
        .slice(0, MAX_MISCLASSIFIED)
        .map((m): MisclassifiedFile => ({ file: m.id, actual: m.trueLabel, predicted: m.predLabel, p: m.prob }))
    : undefined;
  await saveBundle(
    o.out,
    {
      labels: ds.labels,
      backbone: {
        name: backbone.spec.name,
        weightsHash: backbone.weightsHash,
        layer: backbone.layer,
        dim: backbone.dim,
        ...(o.weights ? { weights: o.weights } : {}),
        ...(o.from !== undefined ? { from: EMBEDDED_FROM } : {}),
      },
      preprocess: backbone.spec.preprocess,
      head: extra.head,
      metrics: { train: trainEval && { accuracy: trainEval.accuracy }, val: val && { accuracy: val.accuracy, macroF1: val.macroF1 }, test: test && { accuracy: test.accuracy, macroF1: test.macroF1, misclassified } },
      training: {
        data: o.data,
        valPercent: o.valPercent ?? 10,
        testPercent: o.testPercent ?? 10,
        classes: o.classes,
        ...(o.from !== undefined ? { from: path.resolve(o.from) } : {}),
        ...extra.training,
        epochs: extra.history.length,
        history: extra.history,
      },
    },
    model,
    { ...(o.from !== undefined ? { embed: { name: EMBEDDED_FROM, source: o.from } } : {}), files: extra.files },
  );
  const result: RunResult = {
    bundle: o.out,
    labels: ds.labels,
    backbone: { name: backbone.spec.name, engine: backbone.engine, dim: backbone.dim, layer: backbone.layer },
    data: { used: run.used, skipped: run.skipped, train: sp.train.n, val: sp.val.n, test: sp.test.n },
    features: { computed: run.computed, cached: run.cached, forwardPasses: backbone.forwardCount, seconds: run.featureSeconds },
    history: extra.history,
    val,
    test,
    misclassified,
    testProbabilities: { ids: testIds, probs: testProbs },
    seconds: (performance.now() - run.t0) / 1000,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (o.report) {
    const kind = extra.training.recipe === 'finetune' ? 'finetune' : 'train';
    const written = await writeRunReport(o.report, runReportInput(result, ds.samples, { kind, config: { data: o.data, backbone: backbone.spec.name, ...extra.training } }));
    result.report = written.html;
  }
  return result;
}
