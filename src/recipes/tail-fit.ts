/**
 * Fine-tuning a network's tail — the machinery `graft finetune` and every recipe that trains a
 * tail share (adapt --unfreeze K, distill into a registry backbone, pretrain): the cut point for
 * "the last K blocks", the tail model from cut activations to logits, and its staged fit (head
 * only, optionally gradual unfreezing, then every tail block with discriminative learning rates).
 */
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BackboneSpec } from '../models/types.js';
import { buildTail, INPUT_CUT } from '../models/tail.js';
import { FROZEN_ONNX } from '../models/user-onnx.js';
import { Trainer, type EpochLogs, type Objective, type Rows, type TrainerOptions } from '../train/trainer.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { tfSeed } from '../util/rng.js';

/** The measured cost of an unfrozen epoch (whole-network runs, printed before training). */
export interface EpochEstimate {
  secondsPerStep: number;
  stepsPerEpoch: number;
  secondsPerEpoch: number;
}

/** The training schedule of a tail (what `graft finetune`'s options say about it). */
export interface TailSchedule {
  /** Epochs with everything unfrozen (default 6). */
  epochs?: number;
  /** Head-only epochs first (default 2; 0 skips the stage). */
  freezeEpochs?: number;
  /** Peak head learning rate of the one-cycle schedule (default 1e-2). */
  lr?: number;
  /** Body learning rate (default lr / 10). */
  lrBody?: number;
  batchSize?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  /** Dropout before the new classifier (default 0.2). */
  dropout?: number;
  patience?: number;
  seed?: number;
  /** Let BatchNorm layers of the tail use batch statistics and update them (default false). */
  trainBn?: boolean;
  /**
   * Gradual unfreezing (ULMFiT): after the head-only epochs, one epoch with only the last block
   * unfrozen, one with the last two, … then the remaining epochs with every tail block.
   */
  gradual?: boolean;
}

/** The cut point for "unfreeze the last K blocks" (or the explicit cut), validated. */
export function resolveCut(spec: BackboneSpec, o: { unfreeze?: number | 'all'; cut?: string }): { cut: string; blocks: number } {
  if (spec.frozenOnly) throw new Error(`${spec.name}: ${FROZEN_ONNX}`);
  const cuts = spec.cutPoints;
  if (o.cut !== undefined) {
    const i = cuts.indexOf(o.cut);
    if (i < 0) throw new Error(`"${o.cut}" is not a cut point of ${spec.name}; cut points: ${cuts.join(', ')}`);
    return { cut: o.cut, blocks: cuts.length - 1 - i };
  }
  if (o.unfreeze === 'all') return { cut: INPUT_CUT, blocks: cuts.length };
  const k = o.unfreeze ?? 2;
  const max = cuts.length - 1;
  if (!Number.isInteger(k) || k < 1 || k > max) {
    throw new Error(`cannot unfreeze ${k} blocks of ${spec.name}: choose 1..${max}, or all (its blocks end at ${cuts.join(', ')})`);
  }
  return { cut: cuts[cuts.length - 1 - k], blocks: k };
}

/** Options of the fine-tuning stages themselves (what `fitTailModel` needs beyond the data). */
export type TailFitOptions = TailSchedule & {
  reporter?: Reporter;
  /** Called after every epoch of either stage (history so far, epochs planned). */
  onEpoch?: (history: EpochLogs[]) => void;
  /** Checkpoint each stage in this directory after every epoch, continuing from what it holds. */
  checkpointDir?: string;
  /** Time a few unfrozen training steps first and report the cost of an epoch. */
  estimate?: boolean;
  /**
   * Train the unfrozen stage on this objective instead of plain cross-entropy (domain adaptation:
   * DANN, Deep CORAL), built once the network exists; the head-only stage stays plain.
   */
  objective?: (model: tfl.LayersModel) => Objective;
  /** Fold frozen BatchNorm into the convolutions (default true; false where BN statistics are re-estimated afterwards, as AdaBN does). */
  foldBatchNorm?: boolean;
  /**
   * Train the head-only (and gradual) stages on `objective` too (distillation: unlabelled rows
   * carry no cross-entropy, only the teacher's soft targets).
   */
  objectiveInHeadStage?: boolean;
  /** Passed to the unfrozen stage's Trainer (e.g. DANN's annealed learning rate). */
  lrAt?: TrainerOptions['lrAt'];
};

/**
 * Which block of the tail each layer after `cut` belongs to: 1 = the earliest block after the
 * cut … K = the last (closest to the head), by the spec's cut points; layers after the last cut
 * point (pooling, the final conv) count as block K.
 */
export function blockOf(full: tfl.LayersModel, spec: BackboneSpec, cut: string): Map<string, number> {
  const after = spec.cutPoints.slice(spec.cutPoints.indexOf(cut) + 1);
  const k = Math.max(1, after.length);
  const out = new Map<string, number>();
  let b = 1;
  let started = cut === INPUT_CUT;
  for (const layer of full.layers) {
    if (!started) {
      started = layer.name === cut;
      continue;
    }
    out.set(layer.name, Math.min(b, k));
    if (after.includes(layer.name)) b++;
  }
  return out;
}

export interface FittedTail {
  /** Flattened cut activations → logits: the tail from `cut` plus a new classifier. */
  model: tfl.LayersModel;
  history: EpochLogs[];
  trainableParams: number;
  /** NHWC shape of the cut activations. */
  inputShape: number[];
  estimate?: EpochEstimate;
  resumedEpochs: number;
}

const minutes = (s: number) => (s / 60).toFixed(s < 600 ? 1 : 0);

/**
 * Flattened cut activations → the tail of `full` from `cut` (sharing its layers) → the backbone's
 * features: the symbolic graph every tail model starts from (`graft pretrain` trains it alone).
 */
export function tailFeatures(spec: BackboneSpec, full: tfl.LayersModel, cut: string, dim: number, o: { trainBn?: boolean; foldBatchNorm?: boolean } = {}): { input: tfl.SymbolicTensor; features: tfl.SymbolicTensor; inputShape: number[] } {
  const tail = buildTail(full, cut, spec.featureLayer, { freezeBatchNorm: !o.trainBn, foldBatchNorm: o.foldBatchNorm });
  const shape = tail.inputs[0].shape.slice(1) as number[];
  const input = tfl.input({ shape: [dim], name: 'cut_activations' });
  const x = tfl.layers.reshape({ targetShape: shape, name: 'to_nhwc' }).apply(input) as tfl.SymbolicTensor;
  return { input, features: tail.apply(x) as tfl.SymbolicTensor, inputShape: shape };
}

/**
 * The network a fine-tuning run trains: flattened cut activations → the tail of `full` from `cut`
 * (sharing its layers) → dropout → a new Dense classifier named `logits`.
 */
export function buildTailModel(
  spec: BackboneSpec,
  full: tfl.LayersModel,
  cut: string,
  dim: number,
  numClasses: number,
  o: { dropout?: number; seed?: number; trainBn?: boolean; foldBatchNorm?: boolean } = {},
): { model: tfl.LayersModel; inputShape: number[] } {
  const seed = o.seed ?? 0;
  const dropout = o.dropout ?? 0.2;
  const { input, features: x0, inputShape: shape } = tailFeatures(spec, full, cut, dim, o);
  let x = x0;
  if (dropout > 0) x = tfl.layers.dropout({ rate: dropout, seed: tfSeed(seed), name: 'head_dropout' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: numClasses, name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed(seed + 1) }) })
    .apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits, name: 'finetune' });
  return { model, inputShape: shape };
}

/**
 * Build the tail of `full` from `cut` plus a new classifier, and train it fastai-style: the head
 * alone first (`freezeEpochs`, one-cycle), then everything with discriminative learning rates.
 * The caller owns (and disposes) the returned model; `full` shares the tail's layers.
 */
export async function fitTailModel(spec: BackboneSpec, full: tfl.LayersModel, cut: string, train: Rows, val: Rows, numClasses: number, o: TailFitOptions = {}): Promise<FittedTail> {
  const reporter = o.reporter ?? silentReporter;
  const seed = o.seed ?? 0;
  const lr = o.lr ?? 1e-2; // measured on digits: 1e-3 barely moves a new head in a few one-cycle epochs
  const lrBody = o.lrBody ?? lr / 10;
  const dropout = o.dropout ?? 0.2;
  const { model, inputShape: shape } = buildTailModel(spec, full, cut, train.dim, numClasses, { dropout, seed, trainBn: o.trainBn, foldBatchNorm: o.foldBatchNorm });
  try {
    const isHead = (name: string) => name.startsWith('logits/');
    const trainableParams = model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((p, q) => p * q, 1), 0);
    // Gradual unfreezing (ULMFiT / fastai): after the head-only stage, one epoch with the last
    // block unfrozen, one with the last two, … then the rest of the epochs with all of them.
    const segment = blockOf(full, spec, cut);
    const blocks = Math.max(1, ...segment.values());
    const gradual = o.gradual ? blocks - 1 : 0;
    const stageCount = 2 + gradual;
    const stages: EpochLogs[][] = Array.from({ length: stageCount }, () => []);
    const history = () => stages.flat().map((l, i) => ({ ...l, epoch: i }));
    let resumedEpochs = 0;
    const stageName = (s: number) => (s === 0 ? 'head-only' : s === stageCount - 1 ? 'unfrozen' : `last-${s}-blocks`);
    /** Logging, progress and checkpointing of stage `s` (0: head only, last: all unfrozen, between: gradual). */
    const stage = (s: number) => ({
      ...(o.checkpointDir ? { checkpoint: { path: path.join(o.checkpointDir, `stage${s + 1}.ckpt`), tag: `graft finetune stage ${s + 1}` }, resume: true } : {}),
      callbacks: [
        {
          onResume: (done: number) => {
            resumedEpochs += done;
            reporter.info(`  resuming the ${stageName(s)} stage after its epoch ${done} (checkpoint in ${o.checkpointDir})`);
          },
          onEpochEnd: (l: EpochLogs, ctx: { trainer: Trainer }) => {
            stages[s] = ctx.trainer.history;
            const all = history();
            o.onEpoch?.(all);
            reporter.info(
              `  epoch ${all.length}: loss ${l.loss.toFixed(4)} acc ${(100 * l.accuracy).toFixed(2)}%` +
                (l.val_accuracy !== undefined ? `  val loss ${l.val_loss!.toFixed(4)} acc ${(100 * l.val_accuracy).toFixed(2)}%` : '') +
                `  (${l.seconds.toFixed(1)} s, ${stageName(s)})`,
            );
          },
        },
      ],
    });
    const common = {
      batchSize: o.batchSize ?? 32,
      optimizer: 'adamw' as const,
      weightDecay: o.weightDecay ?? 1e-2,
      labelSmoothing: o.labelSmoothing,
      seed,
      schedule: 'onecycle' as const,
    };
    /** Body layers in the last `j` blocks train at lrBody; earlier blocks stay frozen. */
    const bodyMult = (j: number) => (n: string) => (isHead(n) ? 1 : (segment.get(n.split('/')[0]) ?? blocks) > blocks - j ? lrBody / lr : 0);
    const objective = o.objective?.(model);
    const headObjective = objective && o.objectiveInHeadStage ? { objective } : {};
    const unfrozen = {
      ...common,
      epochs: Math.max(1, (o.epochs ?? 6) - gradual),
      lr: lr / 2,
      lrMultiplier: bodyMult(blocks),
      patience: o.patience ?? 3,
      ...(objective ? { objective } : {}),
      ...(o.lrAt ? { lrAt: o.lrAt } : {}),
    };
    let estimate: EpochEstimate | undefined;
    if (o.estimate) {
      const secondsPerStep = await new Trainer(model, unfrozen).timeSteps(train, 2, 1);
      const stepsPerEpoch = Math.ceil(train.n / Math.min(common.batchSize, train.n));
      estimate = { secondsPerStep, stepsPerEpoch, secondsPerEpoch: secondsPerStep * stepsPerEpoch };
      reporter.info(`≈ ${minutes(estimate.secondsPerEpoch)} min/epoch (${stepsPerEpoch} steps × ${secondsPerStep.toFixed(2)} s, timed on real batches; validation not included)`);
    }
    const valOrNone = val.n ? val : undefined;
    if ((o.freezeEpochs ?? 2) > 0) {
      const t = new Trainer(model, { ...common, ...stage(0), ...headObjective, epochs: o.freezeEpochs ?? 2, lr, lrMultiplier: (n) => (isHead(n) ? 1 : 0), restoreBest: false });
      stages[0] = await t.fit(train, valOrNone);
    }
    for (let j = 1; j <= gradual; j++) {
      const t = new Trainer(model, { ...common, ...stage(j), ...headObjective, epochs: 1, lr: lr / 2, lrMultiplier: bodyMult(j), restoreBest: false });
      stages[j] = await t.fit(train, valOrNone);
    }
    if ((o.epochs ?? 6) > 0) {
      // With an adaptation objective the last epoch is the adapted one: source accuracy alone would restore an unadapted epoch.
      const t = new Trainer(model, { ...unfrozen, ...stage(stageCount - 1), restoreBest: valOrNone !== undefined && !o.objective, ...(o.objective ? { patience: 0 } : {}) });
      stages[stageCount - 1] = await t.fit(train, valOrNone);
    }
    return { model, history: history(), trainableParams, inputShape: shape, estimate, resumedEpochs };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * `--search` for fine-tuning: each candidate (head LR, weight decay; body LR = LR/10) is a full
 * fitTailModel run starting from the pretrained weights (the tail shares layers with `full`, so
 * they are restored before every trial); the best trial's weights end up in the returned model.
 */
