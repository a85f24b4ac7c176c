/**
 * `graft distill --teacher BUNDLE --student small-cnn --data DIR [--unlabelled DIR] --out DIR`:
 * Hinton et al.'s teacher → student distillation. The teacher (any bundle) labels every training
 * image once (its log-probabilities are its logits up to a per-row constant, which softmax(·/T)
 * ignores); the student — graft's small CNN from pixels, width/depth set by `widths` — is trained
 * by the one Trainer with the KD objective. The baseline is the same student (same rows, seed,
 * steps) with α = 0: cross-entropy on the labelled rows only. Both are ordinary bundles, and all
 * three models are scored on the test split and timed at batch 1 and 16 in the same run.
 */
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from '../engine/tfjs.js';
import { saveBundle } from '../bundle/bundle.js';
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Sample } from '../data/types.js';
import { openPixels, pixelsSpec } from '../models/pixels.js';
import { smallCnn } from '../models/small-cnn.js';
import { INPUT_CUT } from '../models/tail.js';
import { Trainer, type Examples } from '../train/trainer.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { kdObjective } from '../strategies/distill/kd-objective.js';
import { measureBundle, type ModelFigures } from '../strategies/distill/measure.js';
import { writeDistillReport } from '../strategies/distill/report.js';
import { datasetFeatures, splitRows } from './features.js';
import { Classifier } from './predict.js';

export interface DistillOptions extends LoadOptions {
  teacher: string;
  /** 'small-cnn' (registry backbones as students are not built yet). */
  student: string;
  data: string;
  /** `--unlabelled DIR`: images only the teacher labels (the transfer set). */
  transfer?: string;
  out: string;
  temperature?: number;
  alpha?: number;
  /** Small-CNN input size (default 28) and conv widths, one stage each (default 16,32,32). */
  size?: number;
  widths?: number[];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  reporter?: Reporter;
}

export interface DistillResult {
  bundle: string;
  /** report.html: `<out>-report.html` beside the bundles. */
  report: string;
  baseline: ModelFigures;
  teacher: ModelFigures;
  student: ModelFigures;
  settings: { temperature: number; alpha: number; labelled: number; unlabelled: number; epochs: number; steps: number; size: number; widths: number[] };
}

/** Teacher log-probabilities for samples, row-aligned with them (a file the teacher cannot read is an error). */
async function teacherLogits(teacher: Classifier, samples: Sample[], reporter: Reporter): Promise<Float32Array> {
  const { probs, skipped } = await teacher.probabilities(samples, { reporter });
  if (skipped.length) throw new Error(`teacher could not read ${skipped[0].file}: ${skipped[0].reason}`);
  return probs.map((p) => Math.log(Math.max(p, 1e-30)));
}

function concatRows(a: Examples, b: Examples | undefined): Examples {
  if (!b || b.n === 0) return a;
  const x = new Float32Array((a.n + b.n) * a.dim);
  x.set(a.x.subarray(0, a.n * a.dim));
  x.set(b.x.subarray(0, b.n * b.dim), a.n * a.dim);
  const y = new Int32Array(a.n + b.n).fill(-1);
  y.set(a.y.subarray(0, a.n));
  return { x, y, n: a.n + b.n, dim: a.dim };
}

/** Save a small CNN on pixels as an ordinary bundle (a whole-network 'tail' cut at the input). */
export async function saveSmallCnnBundle(out: string, model: tfl.LayersModel, o: { labels: string[]; size: number; widths: number[]; training: Record<string, unknown> }): Promise<void> {
  const spec = pixelsSpec(o.size);
  await saveBundle(
    out,
    {
      labels: o.labels,
      backbone: { name: spec.name, weightsHash: `pixels-v1-${o.size}`, layer: INPUT_CUT, dim: spec.featureDim },
      preprocess: spec.preprocess,
      head: { kind: 'tail', cut: INPUT_CUT, blocks: o.widths.length, inputShape: [spec.featureDim], numClasses: o.labels.length, dropout: 0.2, trainBn: false },
      metrics: {},
      training: o.training,
    },
    model,
  );
}

export async function distillRecipe(o: DistillOptions): Promise<DistillResult> {
  const reporter = o.reporter ?? silentReporter;
  if (o.student !== 'small-cnn') throw new Error(`--student ${o.student}: only small-cnn is supported by graft distill so far`);
  await initTf();
  const T = o.temperature ?? 4;
  const alpha = o.alpha ?? 0.9;
  const size = o.size ?? 28;
  const widths = o.widths ?? [16, 32, 32];
  const seed = o.seed ?? 0;
  const ds = await loadDataset(o.data, { valPercent: o.valPercent, testPercent: o.testPercent, limitPerClass: o.limitPerClass });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const teacher = await Classifier.load(o.teacher);
  const pixels = openPixels(size);
  let model: tfl.LayersModel | undefined;
  try {
    if (teacher.labels.join('\n') !== ds.labels.join('\n')) throw new Error(`${o.teacher}: the teacher's classes (${teacher.labels.join(', ')}) differ from ${o.data}'s (${ds.labels.join(', ')})`);
    const rows = splitRows(await datasetFeatures(ds, pixels, { reporter }));
    if (rows.test.n === 0) throw new Error(`${o.data}: the test split is empty; distill scores every model on it (raise --test-percent)`);
    let extra: Examples | undefined;
    let extraSamples: Sample[] = [];
    if (o.transfer) {
      const u = await loadDataset(o.transfer, { valPercent: 0, testPercent: 0, unlabelled: true });
      const m = await datasetFeatures(u, pixels, { reporter });
      extraSamples = m.samples;
      extra = { x: m.data, y: new Int32Array(m.n).fill(-1), n: m.n, dim: m.dim };
    }
    const train = concatRows(rows.train, extra);
    const logits = await teacherLogits(teacher, [...rows.samples.train, ...extraSamples], reporter);
    const k = ds.labels.length;
    const batchSize = o.batchSize ?? 32;
    const epochs = o.epochs ?? Math.min(60, Math.max(10, Math.ceil(300 / Math.ceil(train.n / batchSize))));
    const steps = epochs * Math.ceil(train.n / batchSize);
    const meta = (a: number, rowsUsed: number, ep: number) => ({ recipe: 'distill', teacher: path.resolve(o.teacher), temperature: T, alpha: a, epochs: ep, batchSize, seed, widths, size, labelled: rows.train.n, unlabelled: a === 0 ? 0 : (extra?.n ?? 0), rows: rowsUsed });
    const out = path.resolve(o.out);
    const baseOut = `${out}-label-only`;
    reporter.info(`distilling into a small CNN (${widths.join('-')}) on ${rows.train.n} labelled + ${extra?.n ?? 0} unlabelled images, T=${T}, α=${alpha}`);
    model = smallCnn({ size, numClasses: k, widths, seed });
    const objective = kdObjective({ teacherLogits: logits, numClasses: k, temperature: T, alpha });
    await new Trainer(model, { optimizer: 'adam', lr: o.lr ?? 1e-2, epochs, batchSize, seed, restoreBest: false, objective }).fit(train);
    await saveSmallCnnBundle(out, model, { labels: ds.labels, size, widths, training: meta(alpha, train.n, epochs) });
    model.dispose();
    model = undefined;
    // The baseline: the same network and seed on the labelled rows alone, plain cross-entropy, as
    // many optimizer steps as the student took. (Training it with α=0 on the student's rows left
    // most batches without a label, and it collapsed below chance.)
    const baseEpochs = Math.max(1, Math.round(steps / Math.ceil(rows.train.n / Math.min(batchSize, rows.train.n))));
    reporter.info(`label-only baseline: ${rows.train.n} labelled images, ${baseEpochs} epochs ≈ ${steps} steps, same seed`);
    model = smallCnn({ size, numClasses: k, widths, seed });
    await new Trainer(model, { optimizer: 'adam', lr: o.lr ?? 1e-2, epochs: baseEpochs, batchSize, seed, restoreBest: false }).fit(rows.train);
    await saveSmallCnnBundle(baseOut, model, { labels: ds.labels, size, widths, training: meta(0, rows.train.n, baseEpochs) });
    model.dispose();
    model = undefined;
    const test = rows.samples.test;
    const teacherFig = await measureBundle(o.teacher, test);
    const student = await measureBundle(out, test);
    const baseline = await measureBundle(baseOut, test);
    const settings = { temperature: T, alpha, labelled: rows.train.n, unlabelled: extra?.n ?? 0, epochs, steps, size, widths };
    const report = writeDistillReport(`${out}-report.html`, { teacher: teacherFig, student, baseline, settings });
    return { bundle: out, report, baseline, teacher: teacherFig, student, settings };
  } finally {
    (model as tfl.LayersModel | undefined)?.dispose();
    await teacher.dispose();
    await pixels.dispose();
  }
}
