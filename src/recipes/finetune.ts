/**
 * `graft finetune`: fine-tune the last blocks of a pretrained network plus a new head.
 *
 * The frozen prefix runs once in ORT up to a cut point and its activations go into the feature
 * store, so every epoch costs only the tail (DESIGN §2 "cut-point caching"). The default schedule
 * is fastai's `fine_tune`: train the new head alone first (`freezeEpochs`, one-cycle), then
 * unfreeze the tail and train everything with discriminative learning rates (head `lr/2`, body
 * `lrBody/2`, one-cycle), early stopping on validation accuracy and best-epoch restore.
 * BatchNorm layers of the tail stay in inference mode unless `trainBn` (Keras guide rule).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { getBackbone } from '../models/registry.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import type { BackboneSpec } from '../models/types.js';
import { buildTail } from '../models/tail.js';
import { Trainer, type EpochLogs } from '../train/trainer.js';
import { finishRun, openFeatureRun, type RunOptions, type RunResult } from './run.js';
import '../models/backbone.js';

export interface FinetuneOptions extends RunOptions {
  /** Unfreeze the last K blocks (default 2). */
  unfreeze?: number;
  /** Explicit cut point (a block name, see `graft zoo show`); overrides `unfreeze`. */
  cut?: string;
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
}

export interface FinetuneResult extends RunResult {
  tail: { cut: string; blocks: number; trainableParams: number };
}

/** The cut point for "unfreeze the last K blocks" (or the explicit cut), validated. */
export function resolveCut(spec: BackboneSpec, o: { unfreeze?: number; cut?: string }): { cut: string; blocks: number } {
  const cuts = spec.cutPoints;
  if (o.cut !== undefined) {
    const i = cuts.indexOf(o.cut);
    if (i < 0) throw new Error(`"${o.cut}" is not a cut point of ${spec.name}; cut points: ${cuts.join(', ')}`);
    return { cut: o.cut, blocks: cuts.length - 1 - i };
  }
  const k = o.unfreeze ?? 2;
  const max = cuts.length - 1;
  if (!Number.isInteger(k) || k < 1 || k > max) {
    throw new Error(`cannot unfreeze ${k} blocks of ${spec.name}: choose 1..${max} (its blocks end at ${cuts.join(', ')})`);
  }
  return { cut: cuts[cuts.length - 1 - k], blocks: k };
}

export async function finetuneClassifier(o: FinetuneOptions): Promise<FinetuneResult> {
  const spec = getBackbone(o.backbone ?? DEFAULT_BACKBONE);
  const { cut, blocks } = resolveCut(spec, o);
  const run = await openFeatureRun(o, cut);
  const { ds, splits: sp, reporter } = run;
  let model: tfl.LayersModel | undefined;
  let full: tfl.LayersModel | undefined;
  try {
    const seed = o.seed ?? 0;
    const lr = o.lr ?? 1e-2; // measured on digits: 1e-3 barely moves a new head in a few one-cycle epochs
    const lrBody = o.lrBody ?? lr / 10;
    const dropout = o.dropout ?? 0.2;
    ({ model: full } = await spec.load({ weights: o.weights }));
    const tail = buildTail(full, cut, spec.featureLayer, { freezeBatchNorm: !o.trainBn });
    const shape = tail.inputs[0].shape.slice(1) as number[];
    const input = tfl.input({ shape: [run.dim], name: 'cut_activations' });
    let x = tfl.layers.reshape({ targetShape: shape, name: 'to_nhwc' }).apply(input) as tfl.SymbolicTensor;
    x = tail.apply(x) as tfl.SymbolicTensor;
    if (dropout > 0) x = tfl.layers.dropout({ rate: dropout, seed, name: 'head_dropout' }).apply(x) as tfl.SymbolicTensor;
    const logits = tfl.layers
      .dense({ units: ds.labels.length, name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) })
      .apply(x) as tfl.SymbolicTensor;
    model = tfl.model({ inputs: input, outputs: logits, name: 'finetune' });
    const isHead = (name: string) => name.startsWith('logits/');
    const trainableParams = model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((p, q) => p * q, 1), 0);
    reporter.info(`fine-tuning ${blocks} block(s) of ${spec.name} from ${cut} (${trainableParams} trainable parameters) on ${sp.train.n} images`);

    const history: EpochLogs[] = [];
    const bar = reporter.progress('epochs', (o.freezeEpochs ?? 2) + (o.epochs ?? 6));
    const common = {
      batchSize: o.batchSize ?? 32,
      optimizer: 'adamw' as const,
      weightDecay: o.weightDecay ?? 1e-2,
      labelSmoothing: o.labelSmoothing,
      seed,
      schedule: 'onecycle' as const,
      callbacks: [
        {
          onEpochEnd: (l: EpochLogs) => {
            history.push({ ...l, epoch: history.length });
            bar.tick();
            reporter.info(
              `  epoch ${history.length}: loss ${l.loss.toFixed(4)} acc ${(100 * l.accuracy).toFixed(2)}%` +
                (l.val_accuracy !== undefined ? `  val loss ${l.val_loss!.toFixed(4)} acc ${(100 * l.val_accuracy).toFixed(2)}%` : '') +
                `  (${l.seconds.toFixed(1)} s)`,
            );
          },
        },
      ],
    };
    if ((o.freezeEpochs ?? 2) > 0) {
      await new Trainer(model, { ...common, epochs: o.freezeEpochs ?? 2, lr, lrMultiplier: (n) => (isHead(n) ? 1 : 0), restoreBest: false }).fit(sp.train, sp.val);
    }
    if ((o.epochs ?? 6) > 0) {
      await new Trainer(model, {
        ...common,
        epochs: o.epochs ?? 6,
        lr: lr / 2,
        lrMultiplier: (n) => (isHead(n) ? 1 : lrBody / lr),
        patience: o.patience ?? 3,
        restoreBest: true,
      }).fit(sp.train, sp.val);
    }
    bar.done();
    const headSpec = { kind: 'tail' as const, cut, blocks, inputShape: shape, numClasses: ds.labels.length, dropout, trainBn: !!o.trainBn };
    const res = await finishRun(run, o, model, {
      head: headSpec,
      training: { recipe: 'finetune', lr, lrBody, freezeEpochs: o.freezeEpochs ?? 2, seed, trainableParams },
      history,
    });
    return { ...res, tail: { cut, blocks, trainableParams } };
  } finally {
    model?.dispose();
    full?.dispose();
    await run.backbone.dispose();
  }
}
