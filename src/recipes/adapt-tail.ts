/**
 * `graft adapt --unfreeze K`: the methods that adapt the network itself. The last K blocks of the
 * backbone are fine-tuned on cached cut activations (as `graft finetune` does) — on the source
 * labels alone (source-only), with the Deep CORAL loss between source and target batches, or
 * with DANN's domain discriminator behind gradient reversal on the pooled features. Each method
 * starts from its own copy of the pretrained network; each result is an ordinary tail bundle.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TailHeadSpec } from '../bundle/bundle.js';
import type { BackboneSpec } from '../models/types.js';
import { buildDiscriminator, dannLr, dannObjective, representationDim } from '../strategies/adapt/dann.js';
import { deepCoralObjective } from '../strategies/adapt/deep-coral.js';
import { adaBn } from '../strategies/adapt/adabn.js';
import type { EpochLogs, Objective } from '../train/trainer.js';
import type { AdaptContext, MethodFit } from './adapt-methods.js';
import { hiddenRows } from './adapt-methods.js';
import { fitTailModel } from './tail-fit.js';

export const TAIL_METHODS = ['source-only', 'coral', 'dann', 'adabn'] as const;
export type TailMethod = (typeof TAIL_METHODS)[number];

export interface TailContext extends AdaptContext {
  spec: BackboneSpec;
  weights?: string;
  cut: string;
  blocks: number;
  epochs?: number;
  lr?: number;
  dropout?: number;
  /** Deep CORAL loss weight (default 1). */
  coralWeight?: number;
}

async function fitTail(c: TailContext, method: TailMethod, objective?: (model: tfl.LayersModel) => Objective, lrAt?: (step: number, total: number) => number): Promise<MethodFit> {
  const { model: full } = await c.spec.load({ weights: c.weights }); // a fresh copy: methods must not share trained layers
  const history: EpochLogs[] = [];
  try {
    const fitted = await fitTailModel(c.spec, full, c.cut, c.train, c.val, c.numClasses, {
      epochs: c.epochs,
      lr: c.lr,
      dropout: c.dropout,
      seed: c.seed,
      reporter: c.reporter,
      objective,
      lrAt,
      onEpoch: (h) => void history.splice(0, history.length, ...h),
      // AdaBN re-estimates the tail's BN statistics afterwards: they must stay real layers, not folded constants.
      foldBatchNorm: method === 'adabn' ? false : undefined,
    });
    const head: TailHeadSpec = { kind: 'tail', cut: c.cut, blocks: c.blocks, inputShape: fitted.inputShape, numClasses: c.numClasses, dropout: c.dropout ?? 0.2, trainBn: false };
    const terms = fitted.history.map((h) => h.terms);
    return {
      model: fitted.model,
      head,
      history: fitted.history,
      training: { unfreeze: c.blocks, cut: c.cut, trainableParams: fitted.trainableParams, lr: c.lr ?? 1e-2 },
      valView: c.val,
      details: {
        unfreeze: c.blocks,
        ...(method === 'dann' ? { domainAccuracy: terms.map((t) => t?.domainAccuracy ?? NaN) } : {}),
        ...(method === 'coral' ? { coralLoss: terms.map((t) => t?.coral ?? NaN) } : {}),
      },
      represent: (x, n) => hiddenRows(fitted.model, x, n, c.train.dim),
      release: () => full.dispose(),
    };
  } catch (e) {
    full.dispose();
    throw e;
  }
}

export const TAIL_FITS: Record<TailMethod, (c: TailContext) => Promise<MethodFit>> = {
  'source-only': (c) => fitTail(c, 'source-only'),
  // The source-only fine-tune (same seed: the same weights), then its tail's BN statistics re-estimated on the target.
  adabn: async (c) => {
    const fit = await fitTail(c, 'adabn');
    const layers = adaBn(fit.model, c.target);
    c.reporter.info(`adabn: re-estimated ${layers.length} BatchNorm layers of the tail on ${c.target.n} target images`);
    return { ...fit, details: { ...fit.details, batchNormLayers: layers } };
  },
  coral: (c) => fitTail(c, 'coral', () => deepCoralObjective({ target: c.target, weight: c.coralWeight, seed: c.seed })),
  dann: (c) => {
    let disc: tfl.LayersModel | undefined;
    return fitTail(
      c,
      'dann',
      (model) => {
        disc = buildDiscriminator(representationDim(model), 256, c.seed + 101);
        return dannObjective({ target: c.target, discriminator: disc, seed: c.seed });
      },
      dannLr((c.lr ?? 1e-2) / 2),
    ).finally(() => disc?.dispose());
  },
};
