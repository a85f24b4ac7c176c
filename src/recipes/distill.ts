/**
 * `graft distill --teacher BUNDLE --student small-cnn|NAME --data DIR [--unlabelled DIR] --out DIR`:
 * Hinton et al.'s teacher → student distillation. The teacher (any bundle) labels every training
 * image once per augmented view; its log-probabilities are cached by teacher identity + image +
 * view (strategies/distill/teacher-cache.ts), so a rerun runs no teacher pass. The student — graft's
 * small CNN from pixels (width/depth set by `widths`), or any registry backbone (a head on its
 * frozen features, or `unfreeze` K blocks fine-tuned on cached cut activations, recipes/
 * distill-backbone.ts) — is trained by the one Trainer with the KD objective. The baseline is the
 * same student (same seed, as many steps) with plain cross-entropy on the labelled rows only. Both
 * are ordinary bundles, and all three models are scored on the test split and timed at batch 1
 * and 16 in the same run.
 */
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from '../engine/tfjs.js';
import { saveBundle } from '../bundle/bundle.js';
import { loadDataset } from '../data/index.js';
import { checkView, firstViews } from '../data/augment.js';
import type { LoadOptions } from '../data/types.js';
import type { EngineName } from '../models/types.js';
import { openPixels, pixelsSpec } from '../models/pixels.js';
import { smallCnn } from '../models/small-cnn.js';
import { INPUT_CUT } from '../models/tail.js';
import type { HeadKind } from '../train/heads.js';
import { Trainer } from '../train/trainer.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { kdObjective } from '../strategies/distill/kd-objective.js';
import { measureBundle, measureBundles, type ModelFigures } from '../strategies/distill/measure.js';
import { writeDistillReport } from '../strategies/distill/report.js';
import { epochsForSteps, studentRows, type StudentRows } from '../strategies/distill/rows.js';
import { ensembleTeacherLogits, TeacherEnsemble } from '../strategies/distill/ensemble.js';
import { distillIntoBackbone, type StudentOutcome } from './distill-backbone.js';
import { Classifier } from './predict.js';

export interface DistillOptions extends LoadOptions {
  /** A teacher bundle, or several: an ensemble teacher (the mean of their probabilities). */
  teacher: string | string[];
  /** 'small-cnn' (from pixels), or a registry backbone name (a head on its features, or `unfreeze` K blocks). */
  student: string;
  data: string;
  /** `--unlabelled DIR`: images only the teacher labels (the transfer set). */
  transfer?: string;
  out: string;
  temperature?: number;
  alpha?: number;
  /** Registry students: fine-tune the last K blocks (on cached cut activations) instead of a head on frozen features. */
  unfreeze?: number;
  /** Registry students without `unfreeze`: the head (default linear, trained by AdamW). */
  head?: HeadKind;
  /** Augmented views the student trains on, one per image per epoch (`--augment N` = the first N of AUGMENT_VIEWS, or names); the teacher labels each. */
  augment?: number | string[];
  /** Small-CNN input size (default 28) and conv widths, one stage each (default 16,32,32). */
  size?: number;
  widths?: number[];
  epochs?: number;
  /** Tail students: head-only epochs first (default 2). */
  freezeEpochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  engine?: EngineName;
  threads?: number;
  reporter?: Reporter;
}

export interface DistillResult {
  bundle: string;
  /** report.html: `<out>-report.html` beside the bundles. */
  report: string;
  baseline: ModelFigures;
  teacher: ModelFigures;
  student: ModelFigures;
  /** Teacher rows computed by the teacher in this run / read from the teacher-logit cache. */
  teacherLogits: { computed: number; cached: number; teacherId: string };
  settings: { student: string; temperature: number; alpha: number; labelled: number; unlabelled: number; epochs: number; steps: number; views: string[]; size?: number; widths?: number[] };
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

/** The teacher bundle(s) of `--teacher`: one directory, or several (an ensemble). */
export function teacherDirs(t: string | string[]): string[] {
  const dirs = (Array.isArray(t) ? t : [t]).filter((d) => d !== '');
  if (dirs.length === 0) throw new Error('--teacher: give a teacher bundle (or several, comma-separated, for an ensemble)');
  if (new Set(dirs.map((d) => path.resolve(d))).size !== dirs.length) throw new Error(`--teacher: a bundle is given twice (${dirs.join(', ')})`);
  return dirs;
}

/** The training views: `--augment N` (the first N views) or names; default the plain view. */
export function distillViews(a: DistillOptions['augment']): string[] {
  if (a === undefined) return ['none'];
  const views = typeof a === 'number' ? firstViews(a) : a.map((v) => checkView(v));
  if (new Set(views).size !== views.length) throw new Error(`--augment: a view is given twice (${views.join(', ')})`);
  return views;
}

/** Small-CNN learning rate (Adam): bench:distill's label-only grid found 1e-2 worse and unstable (±5–7 points over seeds) on digits and Fashion-MNIST. */
const SMALL_CNN_LR = 3e-3;

interface Resolved {
  T: number;
  alpha: number;
  seed: number;
  views: string[];
}

/** The small CNN from pixels: student on labelled + transfer rows with the KD loss, baseline on labelled rows alone. */
async function distillIntoSmallCnn(teacher: TeacherEnsemble, o: DistillOptions, r: Resolved, reporter: Reporter): Promise<StudentOutcome> {
  const size = o.size ?? 28;
  const widths = o.widths ?? [16, 32, 32];
  const ds = await loadDataset(o.data, { valPercent: o.valPercent, testPercent: o.testPercent, limitPerClass: o.limitPerClass, classes: o.classes, strict: o.strict });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (teacher.labels.join('\n') !== ds.labels.join('\n')) throw new Error(`${teacher.dir}: the teacher's classes (${teacher.labels.join(', ')}) differ from ${o.data}'s (${ds.labels.join(', ')})`);
  const test = ds.samples.filter((s) => s.split === 'test');
  if (test.length === 0) throw new Error(`${o.data}: the test split is empty; distill scores every model on it (raise --test-percent)`);
  const labelled = ds.samples.filter((s) => s.split === 'train');
  const transfer = o.transfer ? (await loadDataset(o.transfer, { valPercent: 0, testPercent: 0, unlabelled: true })).samples : [];
  const pixels = openPixels(size);
  const opened: StudentRows[] = [];
  let model: tfl.LayersModel | undefined;
  try {
    const all = await studentRows([...labelled, ...transfer], new Set(transfer), pixels, r.views, { seed: r.seed, reporter, strict: o.strict });
    opened.push(all);
    const t = await ensembleTeacherLogits(teacher.members, all.samples, { views: all.views, reporter });
    reporter.info(`teacher logits: ${t.computed} computed, ${t.cached} from cache`);
    const k = ds.labels.length;
    const batchSize = o.batchSize ?? 32;
    const n = all.rows.n;
    // ≥20 epochs and ≥600 steps (≤60 epochs): bench:distill's students gained 4.5 (digits) and 0.1–0.9 (Fashion) points from 970 → 1,940 steps.
    const epochs = o.epochs ?? Math.min(60, Math.max(20, Math.ceil(600 / Math.ceil(n / batchSize))));
    const steps = epochs * Math.ceil(n / batchSize);
    const nLabelled = all.rows.y.reduce((a, y) => a + (y >= 0 ? 1 : 0), 0);
    const meta = (a: number, rowsUsed: number, ep: number) => ({ recipe: 'distill', student: 'small-cnn', teacher: teacherDirs(o.teacher).map((d) => path.resolve(d)).join(','), temperature: r.T, alpha: a, epochs: ep, batchSize, seed: r.seed, widths, size, views: all.views, labelled: nLabelled, unlabelled: a === 0 ? 0 : n - nLabelled, rows: rowsUsed });
    const out = path.resolve(o.out);
    const baseOut = `${out}-label-only`;
    reporter.info(`distilling into a small CNN (${widths.join('-')}) on ${nLabelled} labelled + ${n - nLabelled} unlabelled images, T=${r.T}, α=${r.alpha}`);
    model = smallCnn({ size, numClasses: k, widths, seed: r.seed });
    const objective = kdObjective({ teacherLogits: t.logits, views: t.views.length, viewOf: all.pick, numClasses: k, temperature: r.T, alpha: r.alpha });
    await new Trainer(model, { optimizer: 'adam', lr: o.lr ?? SMALL_CNN_LR, epochs, batchSize, seed: r.seed, restoreBest: false, objective }).fit(all.rows);
    await saveSmallCnnBundle(out, model, { labels: ds.labels, size, widths, training: meta(r.alpha, n, epochs) });
    model.dispose();
    model = undefined;
    // The baseline: the same network and seed on the labelled rows alone, plain cross-entropy, as
    // many optimizer steps as the student took. (Training it with α=0 on the student's rows left
    // most batches without a label, and it collapsed below chance.)
    const base = await studentRows(labelled, new Set(), pixels, r.views, { seed: r.seed, reporter, strict: o.strict });
    opened.push(base);
    const baseEpochs = epochsForSteps(steps, base.rows.n, batchSize);
    reporter.info(`label-only baseline: ${base.rows.n} labelled images, ${baseEpochs} epochs ≈ ${steps} steps, same seed`);
    model = smallCnn({ size, numClasses: k, widths, seed: r.seed });
    await new Trainer(model, { optimizer: 'adam', lr: o.lr ?? SMALL_CNN_LR, epochs: baseEpochs, batchSize, seed: r.seed, restoreBest: false }).fit(base.rows);
    await saveSmallCnnBundle(baseOut, model, { labels: ds.labels, size, widths, training: meta(0, base.rows.n, baseEpochs) });
    return { out, baseOut, test, labelled: nLabelled, unlabelled: n - nLabelled, epochs, steps, teacherLogits: t, student: `small-cnn ${widths.join('-')} @${size}px` };
  } finally {
    model?.dispose();
    opened.forEach((x) => x.close());
    await pixels.dispose();
  }
}

export async function distillRecipe(o: DistillOptions): Promise<DistillResult> {
  const reporter = o.reporter ?? silentReporter;
  await initTf();
  const r: Resolved = { T: o.temperature ?? 4, alpha: o.alpha ?? 0.9, seed: o.seed ?? 0, views: distillViews(o.augment) };
  if (!(r.T > 0)) throw new Error(`--temperature must be > 0 (got ${r.T})`);
  if (!(r.alpha >= 0 && r.alpha <= 1)) throw new Error(`--alpha must be in [0, 1] (got ${r.alpha})`);
  const small = o.student === 'small-cnn';
  if (small && (o.unfreeze !== undefined || o.head !== undefined)) throw new Error('--unfreeze and --head apply to a registry-backbone student (e.g. --student mobilenet_v2), not small-cnn');
  const dirs = teacherDirs(o.teacher);
  const members: Classifier[] = [];
  let s: StudentOutcome;
  try {
    for (const d of dirs) members.push(await Classifier.load(d, { engine: o.engine, threads: o.threads }));
    const teacher = new TeacherEnsemble(members);
    s = small
      ? await distillIntoSmallCnn(teacher, o, r, reporter)
      : await distillIntoBackbone(teacher, { ...o, out: path.resolve(o.out), student: o.student, views: r.views, temperature: r.T, alpha: r.alpha, seed: r.seed }, reporter);
  } finally {
    for (const m of members) await m.dispose();
  }
  const teacherFig = await measureBundles(dirs, s.test);
  const student = await measureBundle(s.out, s.test);
  const baseline = await measureBundle(s.baseOut, s.test);
  const settings = { student: s.student, temperature: r.T, alpha: r.alpha, labelled: s.labelled, unlabelled: s.unlabelled, epochs: s.epochs, steps: s.steps, views: r.views, ...(small ? { size: o.size ?? 28, widths: o.widths ?? [16, 32, 32] } : {}) };
  const report = writeDistillReport(`${s.out}-report.html`, { teacher: teacherFig, student, baseline, settings });
  const { computed, cached, teacherId } = s.teacherLogits;
  return { bundle: s.out, report, baseline, teacher: teacherFig, student, teacherLogits: { computed, cached, teacherId }, settings };
}
