/**
 * `graft finetune`: fine-tune the last blocks of a pretrained network plus a new head.
 *
 * The frozen prefix runs once in ORT up to a cut point and its activations go into the feature
 * store, so every epoch costs only the tail (DESIGN §2 "cut-point caching"). The default schedule
 * is fastai's `fine_tune`: train the new head alone first (`freezeEpochs`, one-cycle), then
 * unfreeze the tail and train everything with discriminative learning rates (head `lr/2`, body
 * `lrBody/2`, one-cycle), early stopping on validation accuracy and best-epoch restore.
 * BatchNorm layers of the tail stay in inference mode unless `trainBn` (Keras guide rule).
 *
 * `unfreeze: 'all'` trains the whole network from the pixels: nothing is cached, every batch is
 * decoded and preprocessed from the image files while the previous step runs (slow on a CPU; the
 * cost of an epoch is measured and printed first).
 *
 * After every epoch the run is checkpointed (`<out>.ckpt/`, one file per stage); an interrupted
 * run continues with `resume`, in the stage it was in, to the same weights an uninterrupted run
 * gets. The checkpoint is removed once the bundle is saved.
 */
import { adoptAudio } from '../audio/adopt.js';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTf, tf } from '../engine/tfjs.js';
import { loadDataset } from '../data/index.js';
import type { Sample, Skipped, Split } from '../data/types.js';
import { extractFeatures } from '../features/extract.js';
import type { Backbone, BackboneSpec } from '../models/types.js';
import { buildTail, disposeSnapshot, inputBackbone, INPUT_CUT, restoreWeights, snapshotWeights } from '../models/tail.js';
import { Trainer, type EpochLogs, type Objective, type Rows, type TrainerOptions } from '../train/trainer.js';
import { fingerprintDiff } from '../train/checkpoint.js';
import { imageSource } from '../train/source.js';
import { augmentedSource, type AugmentedSource } from '../train/augment-source.js';
import { writeFileAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { runSearch, searchCandidates, type SearchKind, type TrialResult } from '../train/search.js';
import { finishRun, openFeatureRun, runSpec, type FeatureRun, type RunOptions, type RunResult, type RunSplits } from './run.js';
import '../models/backbone.js';
import { resolveCut, fitTailModel, type EpochEstimate, type FittedTail, type TailSchedule } from './tail-fit.js';
export { blockOf, buildTailModel, fitTailModel, resolveCut, tailFeatures, type EpochEstimate, type FittedTail, type TailFitOptions, type TailSchedule } from './tail-fit.js';

export interface FinetuneOptions extends RunOptions, TailSchedule {
  /** Unfreeze the last K blocks (default 2), or 'all': the whole network, trained from the pixels. */
  unfreeze?: number | 'all';
  /** Explicit cut point (a block name, see `graft zoo show`); overrides `unfreeze`. */
  cut?: string;
  /** Cached augmented views per training image (flip, crops; see AUGMENT_VIEWS), one picked per epoch. */
  augment?: number;
  /** Checkpoint directory, rewritten after every epoch (default `<out>.ckpt`); false: none. */
  checkpoint?: string | false;
  /** Continue from the checkpoint if there is one (else start fresh). */
  resume?: boolean;
  /**
   * Search the (head) learning rate and weight decay on the validation split: every trial is a
   * whole fine-tuning run from the pretrained weights (no checkpoints); the best one is kept.
   */
  search?: SearchKind;
  /** Random search: number of trials (default 8). */
  searchTrials?: number;
}

export interface FinetuneResult extends RunResult {
  tail: { cut: string; blocks: number; trainableParams: number };
  estimate?: EpochEstimate;
  /** Every trial of `search`; the kept one is `lr`/`weightDecay` in the bundle's training record. */
  search?: TrialResult[];
  /** Epochs restored from a checkpoint rather than trained in this call. */
  resumedEpochs: number;
}

async function searchTail(spec: BackboneSpec, full: tfl.LayersModel, cut: string, train: Rows, val: Rows, k: number, o: FinetuneOptions & { reporter: Reporter }) {
  const pretrained = snapshotWeights(full);
  const candidates = searchCandidates(o.search!, { trials: o.searchTrials, seed: o.seed ?? 0 });
  let last: FittedTail | undefined;
  try {
    const found = await runSearch(
      candidates,
      async (c) => {
        restoreWeights(full, pretrained);
        if (last) last.model.dispose();
        last = await fitTailModel(spec, full, cut, train, val, k, { ...o, lr: c.lr, lrBody: c.lr / 10, weightDecay: c.weightDecay, reporter: silentReporter });
        const v = await new Trainer(last.model, {}).evaluate(val);
        return { model: { history: last.history, weights: last.model.getWeights().map((w) => tf.clone(w)) }, valAccuracy: v.accuracy, valLoss: v.loss, epochs: last.history.length };
      },
      (m) => m.weights.forEach((w) => w.dispose()),
      o.reporter,
    );
    // Every trial's model has the same architecture (and shares the tail): load the best weights into the last.
    last!.model.setWeights(found.model.weights);
    found.model.weights.forEach((w) => w.dispose());
    return { fitted: { ...last!, history: found.model.history }, trials: found.trials, best: found.best };
  } catch (e) {
    last?.model.dispose();
    throw e;
  } finally {
    disposeSnapshot(pretrained);
  }
}

const CHECKPOINT_FORMAT = 'graft-finetune-checkpoint';

/**
 * Make `dir` this run's checkpoint directory. With `resume`, a checkpoint already there must come
 * from the same run (`id`: data, backbone, options), else it is an error saying what differs;
 * without, an old checkpoint is replaced. A directory graft did not make is never removed.
 */
export function prepareCheckpointDir(dir: string, id: Record<string, unknown>, resume: boolean, reporter: Reporter): void {
  const file = path.join(dir, 'run.json');
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) {
    let saved: { format?: string; run?: Record<string, unknown> } = {};
    try {
      saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      // not ours: refused below
    }
    if (saved.format !== CHECKPOINT_FORMAT || !saved.run) throw new Error(`${dir}: exists and is not a graft finetune checkpoint; choose another --checkpoint directory`);
    if (resume) {
      const diff = fingerprintDiff(id, saved.run);
      if (diff.length) throw new Error(`${dir}: checkpoint of a different finetune run: ${diff.join('; ')}. Run without --resume to start over`);
      reporter.info(`resuming from the checkpoint in ${dir}`);
      return;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    reporter.info(`starting over: replaced the checkpoint in ${dir} (--resume continues one)`);
  } else if (resume) {
    reporter.info(`no checkpoint in ${dir}: starting fresh`);
  }
  writeFileAtomic(file, JSON.stringify({ format: CHECKPOINT_FORMAT, run: id }, null, 2) + '\n');
}

/** What a checkpoint must match to be resumed: the data, the network, and every option that shapes training. */
function runId(o: FinetuneOptions, backbone: Backbone, cut: string, labels: string[], samples: Record<Split, Sample[]>): Record<string, unknown> {
  const ids = (split: Split) => `${samples[split].length} images (crc32 ${crc32(samples[split].map((s) => s.id).join('\n'))})`;
  return {
    data: path.resolve(o.data),
    labels,
    train: ids('train'),
    val: ids('val'),
    backbone: backbone.spec.name,
    weights: backbone.weightsHash,
    cut,
    epochs: o.epochs ?? 6,
    freezeEpochs: o.freezeEpochs ?? 2,
    lr: o.lr ?? 1e-2,
    lrBody: o.lrBody ?? null,
    batchSize: o.batchSize ?? 32,
    weightDecay: o.weightDecay ?? 1e-2,
    labelSmoothing: o.labelSmoothing ?? 0,
    dropout: o.dropout ?? 0.2,
    patience: o.patience ?? 3,
    seed: o.seed ?? 0,
    trainBn: !!o.trainBn,
    gradual: !!o.gradual,
    augment: o.augment ?? 1,
  };
}

/** Decode every image once: the ones that fail are skipped (or, with `strict`, an error). */
async function checkImages(samples: Sample[], backbone: Backbone, reporter: Reporter, strict?: boolean): Promise<{ used: Sample[]; skipped: Skipped[] }> {
  const used: Sample[] = [];
  const skipped: Skipped[] = [];
  const bar = reporter.progress('checking images', samples.length);
  for (let s = 0; s < samples.length; s += 64) {
    const m = await extractFeatures(samples.slice(s, s + 64), backbone, { store: null, strict });
    used.push(...m.samples);
    skipped.push(...m.skipped);
    bar.tick(Math.min(64, samples.length - s));
  }
  bar.done();
  return { used, skipped };
}

/**
 * The data side of a whole-network run: no backbone pass and no cache; each split streams its
 * images, decoded and preprocessed per batch.
 */
async function openImageRun(o: FinetuneOptions, backbone: Backbone, reporter: Reporter): Promise<Omit<FeatureRun, 'splits'> & { splits: RunSplits }> {
  const t0 = performance.now();
  const ds = await loadDataset(o.data, o);
  adoptAudio(backbone, ds.audio);
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (ds.audioAuto) reporter.info(`--duration auto: ${ds.audioAuto.seconds} s clips, the median of ${ds.audioAuto.files} training files`);
  reporter.info(`${ds.samples.length} images, ${ds.labels.length} classes; the whole of ${backbone.spec.name} trains from its input (images decoded every epoch, nothing cached)`);
  const { used, skipped } = await checkImages(ds.samples, backbone, reporter, o.strict);
  for (const s of skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const samples: Record<Split, Sample[]> = { train: [], val: [], test: [] };
  for (const s of used) samples[s.split].push(s);
  const pre = backbone.spec.preprocess;
  const splits: RunSplits = { train: imageSource(samples.train, pre), val: imageSource(samples.val, pre), test: imageSource(samples.test, pre), samples };
  if (splits.train.n === 0) throw new Error(`${o.data}: no training images left after the split`);
  if (new Set(splits.train.y).size < 2) throw new Error(`${o.data}: the training split holds fewer than 2 classes`);
  const checkSeconds = (performance.now() - t0) / 1000;
  return { ds, backbone, splits, dim: backbone.dim, used: used.length, skipped: [...ds.skipped, ...skipped], computed: 0, cached: 0, featureSeconds: checkSeconds, reporter, t0 };
}

export async function finetuneClassifier(o: FinetuneOptions): Promise<FinetuneResult> {
  const spec = await runSpec(o);
  const { cut, blocks } = resolveCut(spec, o);
  const whole = cut === INPUT_CUT;
  const reporter = o.reporter ?? silentReporter;
  let model: tfl.LayersModel | undefined;
  let full: tfl.LayersModel | undefined;
  let run: (Omit<FeatureRun, 'splits'> & { splits: RunSplits }) | undefined;
  let augmented: AugmentedSource | undefined;
  try {
    if (whole) {
      await initTf();
      const loaded = await spec.load({ weights: o.weights });
      full = loaded.model;
      run = await openImageRun(o, inputBackbone(spec, loaded.weightsHash, full.inputLayers[0].name), reporter);
    } else {
      run = await openFeatureRun(o, cut);
      ({ model: full } = await spec.load({ weights: o.weights }));
    }
    const { ds, splits: sp } = run;
    const lr = o.lr ?? 1e-2;
    const lrBody = o.lrBody ?? lr / 10;
    const seed = o.seed ?? 0;
    const dropout = o.dropout ?? 0.2;
    const checkpointDir = o.checkpoint === false ? undefined : path.resolve(o.checkpoint ?? `${path.resolve(o.out)}.ckpt`);
    if (checkpointDir) {
      prepareCheckpointDir(checkpointDir, runId(o, run.backbone, cut, ds.labels, sp.samples), !!o.resume, reporter);
      reporter.info(`checkpoint after every epoch in ${checkpointDir} (an interrupted run continues with --resume)`);
    }
    reporter.info(`fine-tuning ${whole ? 'the whole network' : `${blocks} block(s)`} of ${spec.name} from ${cut} on ${sp.train.n} images`);
    // --augment N: the first N fixed views of every training image, cut activations cached per
    // view; each epoch reads one view per image (validation and test stay on the plain view).
    let train: Rows = sp.train;
    if (o.augment !== undefined && o.augment > 1) {
      if (whole) throw new Error('--augment picks among cached augmented activations; it does not apply to --unfreeze all');
      augmented = await augmentedSource(sp.samples.train, run.backbone, { views: o.augment, seed, reporter, strict: o.strict });
      if (augmented.n !== sp.train.n) reporter.warn(`--augment: ${sp.train.n - augmented.n} training image(s) failed in an augmented view and are left out of training`);
      train = augmented;
      reporter.info(`augmentation: ${augmented.views.join(', ')} (${augmented.computed} view rows computed, ${augmented.cached} cached)`);
    }
    let fitted: FittedTail;
    let search: { trials: TrialResult[]; lr: number; weightDecay: number } | undefined;
    if (o.search) {
      if (!sp.val.n) throw new Error('--search picks on the validation split, which is empty (raise --val-percent)');
      const found = await searchTail(spec, full, cut, train, sp.val, ds.labels.length, { ...o, reporter });
      fitted = found.fitted;
      search = { trials: found.trials, lr: found.best.lr, weightDecay: found.best.weightDecay };
    } else {
      const bar = reporter.progress('epochs', (o.freezeEpochs ?? 2) + (o.epochs ?? 6));
      let ticked = 0;
      fitted = await fitTailModel(spec, full, cut, train, sp.val, ds.labels.length, {
        ...o,
        reporter,
        checkpointDir,
        estimate: whole,
        onEpoch: (h) => (bar.tick(h.length - ticked), (ticked = h.length)),
      });
      bar.done();
    }
    model = fitted.model;
    const { history, trainableParams } = fitted;
    const headSpec = { kind: 'tail' as const, cut, blocks, inputShape: fitted.inputShape, numClasses: ds.labels.length, dropout, trainBn: !!o.trainBn };
    const res = await finishRun(run, o, model, {
      head: headSpec,
      training: {
        recipe: 'finetune',
        unfreeze: whole ? 'all' : blocks,
        lr: search?.lr ?? lr,
        lrBody: search ? search.lr / 10 : lrBody,
        ...(search ? { weightDecay: search.weightDecay, search: search.trials } : {}),
        freezeEpochs: o.freezeEpochs ?? 2,
        ...(augmented ? { augment: augmented.views } : {}),
        seed,
        trainableParams,
      },
      history,
    });
    if (checkpointDir) fs.rmSync(checkpointDir, { recursive: true, force: true });
    return { ...res, tail: { cut, blocks, trainableParams }, estimate: fitted.estimate, resumedEpochs: fitted.resumedEpochs, ...(search ? { search: search.trials } : {}) };
  } finally {
    augmented?.close();
    model?.dispose();
    full?.dispose();
    await run?.backbone.dispose();
  }
}
