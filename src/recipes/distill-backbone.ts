/**
 * `graft distill --student NAME` with a registry backbone as the student, in two forms:
 * - a head on its frozen features (`fitHead`, minibatch AdamW, the KD objective), or
 * - `--unfreeze K`: its last K blocks fine-tuned with a new head on cached cut activations, as
 *   `graft finetune` does (`fitTailModel`: head-only stage, then discriminative learning rates),
 *   with the KD objective in every stage.
 * Both go through `openFeatureRun`/`finishRun`, so each student is an ordinary bundle (train or
 * finetune shape). The label-only baseline is the same recipe on the labelled rows alone, with
 * plain cross-entropy and as many optimizer steps.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadDataset } from '../data/index.js';
import type { Sample } from '../data/types.js';
import { resolveBackbone } from '../models/resolve.js';
import type { HeadKind } from '../train/heads.js';
import type { Examples, Objective, Rows } from '../train/trainer.js';
import type { Reporter } from '../util/log.js';
import type { TeacherLogits } from '../strategies/distill/teacher-cache.js';
import { ensembleTeacherLogits, type TeacherEnsemble } from '../strategies/distill/ensemble.js';
import { kdObjective } from '../strategies/distill/kd-objective.js';
import { epochsForSteps, studentRows, type StudentRows } from '../strategies/distill/rows.js';
import { fitTailModel, resolveCut } from './tail-fit.js';
import { finishRun, openFeatureRun, type FeatureRun, type RunOptions } from './run.js';
import { fitHead } from './train.js';

export interface BackboneStudentOptions extends RunOptions {
  student: string;
  transfer?: string;
  unfreeze?: number;
  views: string[];
  temperature: number;
  alpha: number;
  head?: HeadKind;
  epochs?: number;
  freezeEpochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
}

export interface StudentOutcome {
  out: string;
  baseOut: string;
  test: Sample[];
  labelled: number;
  unlabelled: number;
  epochs: number;
  steps: number;
  teacherLogits: Pick<TeacherLogits, 'computed' | 'cached' | 'teacherId'>;
  student: string;
}

const steps = (n: number, epochs: number, bs: number) => epochs * Math.ceil(n / Math.min(bs, n));

/** Distil `teacher` into a head or a fine-tuned tail on registry backbone `o.student`; both bundles saved. */
export async function distillIntoBackbone(teacher: TeacherEnsemble, o: BackboneStudentOptions, reporter: Reporter): Promise<StudentOutcome> {
  const spec = await resolveBackbone(o.student);
  const tail = o.unfreeze !== undefined ? resolveCut(spec, { unfreeze: o.unfreeze }) : undefined;
  if (!tail && o.views.some((v) => v !== 'none')) throw new Error('--augment: augmented views need a trained network in front of the head (small-cnn, or --unfreeze K); a head on frozen features reads plain views');
  const run: FeatureRun = await openFeatureRun({ ...o, backbone: o.student, reporter }, tail?.cut);
  const opened: StudentRows[] = [];
  try {
    const { ds } = run;
    if (teacher.labels.join('\n') !== ds.labels.join('\n')) throw new Error(`${teacher.dir}: the teacher's classes (${teacher.labels.join(', ')}) differ from ${o.data}'s (${ds.labels.join(', ')})`);
    if (!run.splits.test.n) throw new Error(`${o.data}: the test split is empty; distill scores every model on it (raise --test-percent)`);
    const transfer = o.transfer ? (await loadDataset(o.transfer, { valPercent: 0, testPercent: 0, unlabelled: true })).samples : [];
    const labelled = run.splits.samples.train;
    const all = await studentRows([...labelled, ...transfer], new Set(transfer), run.backbone, o.views, { seed: o.seed, reporter, strict: o.strict });
    opened.push(all);
    const t = await ensembleTeacherLogits(teacher.members, all.samples, { views: all.views, reporter });
    reporter.info(`teacher logits: ${t.computed} computed, ${t.cached} from cache`);
    const k = ds.labels.length;
    const kd = (): Objective => kdObjective({ teacherLogits: t.logits, views: t.views.length, viewOf: all.pick, numClasses: k, temperature: o.temperature, alpha: o.alpha });
    const bs = o.batchSize ?? 32;
    const unl = all.rows.n - labelled.length;
    const meta = (a: number, rows: number, ep: number) => ({ recipe: 'distill', student: o.student, teacher: teacher.dir, temperature: o.temperature, alpha: a, epochs: ep, batchSize: bs, seed: o.seed, views: all.views, labelled: labelled.length, unlabelled: a === 0 ? 0 : unl, rows });
    const out = o.out;
    const baseOut = `${o.out}-label-only`;
    let epochs: number;
    if (!tail) {
      epochs = o.epochs ?? 30;
      const head = o.head ?? 'linear';
      const fitOpts = { head, optimizer: 'adamw' as const, lr: o.lr, batchSize: bs, seed: o.seed, patience: 0, trainer: { restoreBest: false } };
      reporter.info(`distilling into a ${head} head on frozen ${spec.name} features: ${labelled.length} labelled + ${unl} unlabelled images, T=${o.temperature}, α=${o.alpha}`);
      const fit = await fitHead(all.rows as Examples, run.splits.val, k, { ...fitOpts, epochs, objective: kd }, reporter);
      await finishRun(run, { ...o, out }, fit.head, { head: fit.spec, training: meta(o.alpha, all.rows.n, epochs), history: fit.history }).finally(() => fit.head.dispose());
      const baseEpochs = epochsForSteps(steps(all.rows.n, epochs, bs), run.splits.train.n, bs);
      reporter.info(`label-only baseline: ${run.splits.train.n} labelled images, ${baseEpochs} epochs, same seed`);
      const base = await fitHead(run.splits.train, run.splits.val, k, { ...fitOpts, epochs: baseEpochs }, reporter);
      await finishRun(run, { ...o, out: baseOut }, base.head, { head: base.spec, training: meta(0, run.splits.train.n, baseEpochs), history: base.history }).finally(() => base.head.dispose());
    } else {
      epochs = o.epochs ?? 6;
      const freezeEpochs = o.freezeEpochs ?? 2;
      const fitTail = async (rows: Rows, ep: number, fe: number, objective: (() => Objective) | undefined, dir: string, a: number) => {
        const { model: full } = await spec.load({ weights: o.weights }); // a fresh pretrained copy per model
        let model: tfl.LayersModel | undefined;
        try {
          const fitted = await fitTailModel(spec, full, tail.cut, rows, run.splits.val, k, { epochs: ep, freezeEpochs: fe, lr: o.lr, batchSize: bs, seed: o.seed, reporter, objective, objectiveInHeadStage: true });
          model = fitted.model;
          const headSpec = { kind: 'tail' as const, cut: tail.cut, blocks: tail.blocks, inputShape: fitted.inputShape, numClasses: k, dropout: 0.2, trainBn: false };
          await finishRun(run, { ...o, out: dir }, model, { head: headSpec, training: { ...meta(a, rows.n, ep + fe), unfreeze: tail.blocks, freezeEpochs: fe, trainableParams: fitted.trainableParams }, history: fitted.history });
        } finally {
          model?.dispose();
          full.dispose();
        }
      };
      reporter.info(`distilling into ${spec.name} with its last ${tail.blocks} block(s) fine-tuned (cut ${tail.cut}): ${labelled.length} labelled + ${unl} unlabelled images, T=${o.temperature}, α=${o.alpha}`);
      await fitTail(all.rows, epochs, freezeEpochs, kd, out, o.alpha);
      const base = await studentRows(labelled, new Set(), run.backbone, o.views, { seed: o.seed, reporter, strict: o.strict });
      opened.push(base);
      const ratio = steps(all.rows.n, 1, bs) / steps(base.rows.n, 1, bs);
      reporter.info(`label-only baseline: ${base.rows.n} labelled images, ${Math.round(epochs * ratio)}+${Math.round(freezeEpochs * ratio)} epochs, same seed`);
      await fitTail(base.rows, Math.max(1, Math.round(epochs * ratio)), Math.round(freezeEpochs * ratio), undefined, baseOut, 0);
    }
    return { out, baseOut, test: run.splits.samples.test, labelled: labelled.length, unlabelled: unl, epochs, steps: steps(all.rows.n, epochs + (tail ? (o.freezeEpochs ?? 2) : 0), bs), teacherLogits: t, student: tail ? `${spec.name} (last ${tail.blocks} blocks fine-tuned)` : `${spec.name} features + ${o.head ?? 'linear'} head` };
  } finally {
    opened.forEach((r) => r.close());
    await run.backbone.dispose();
  }
}
