/**
 * Smith's learning-rate range test (fastai's `lr_find`): train for up to `steps` minibatches while
 * the learning rate grows exponentially from `startLr` to `endLr`, record the smoothed loss, stop
 * once it diverges, then put the model's weights back. Suggestions: the learning rate at the
 * steepest descent of the smoothed loss, and one tenth of the learning rate at its minimum.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { Trainer, type Examples, type TrainerOptions } from './trainer.js';

export interface LrFindOptions extends Omit<TrainerOptions, 'lr' | 'lrAt' | 'epochs' | 'schedule' | 'patience' | 'restoreBest'> {
  startLr?: number;
  endLr?: number;
  steps?: number;
  /** Stop when the smoothed loss exceeds this multiple of its minimum (default 4). */
  divergence?: number;
}

export interface LrFindResult {
  lrs: number[];
  /** Exponentially smoothed (β = 0.98, bias-corrected) training loss at each step. */
  losses: number[];
  /** Learning rate where the smoothed loss falls fastest. */
  steepest: number;
  /** One tenth of the learning rate at the smoothed loss's minimum. */
  minimumOver10: number;
  /** The suggestion (steepest). */
  suggested: number;
  diverged: boolean;
}

export async function lrFind(model: tfl.LayersModel, train: Examples, o: LrFindOptions = {}): Promise<LrFindResult> {
  const start = o.startLr ?? 1e-7;
  const end = o.endLr ?? 10;
  const steps = o.steps ?? 100;
  const div = o.divergence ?? 4;
  const batch = Math.min(o.batchSize ?? 64, train.n);
  const perEpoch = Math.ceil(train.n / batch);
  const lrAt = (step: number) => start * Math.pow(end / start, step / Math.max(1, steps - 1));
  const saved = model.getWeights().map((w) => w.clone());
  const lrs: number[] = [];
  const losses: number[] = [];
  let avg = 0;
  let best = Infinity;
  let diverged = false;
  try {
    const t = new Trainer(model, {
      ...o,
      batchSize: batch,
      epochs: Math.ceil(steps / perEpoch),
      lrAt,
      patience: 0,
      restoreBest: false,
      callbacks: [
        ...(o.callbacks ?? []),
        {
          onBatchEnd: (step, loss, ctx) => {
            avg = 0.98 * avg + 0.02 * loss;
            const smooth = avg / (1 - Math.pow(0.98, step + 1));
            lrs.push(lrAt(step));
            losses.push(smooth);
            best = Math.min(best, smooth);
            if (!Number.isFinite(smooth) || (step > 10 && smooth > div * best)) {
              diverged = true;
              ctx.trainer.stopTraining = true;
            }
            if (step + 1 >= steps) ctx.trainer.stopTraining = true;
          },
        },
      ],
    });
    await t.fit(train);
  } finally {
    model.setWeights(saved);
    saved.forEach((w) => w.dispose());
  }
  // Ignore the diverged tail when picking points.
  const usable = losses.findIndex((l) => !Number.isFinite(l) || l > div * best);
  const n = usable < 0 ? losses.length : usable;
  // Like fastai, skip the first points: the smoothed loss is still noise there.
  const skip = Math.min(10, Math.floor(n / 10));
  let iMin = skip;
  for (let i = skip + 1; i < n; i++) if (losses[i] < losses[iMin]) iMin = i;
  let iSteep = skip;
  let slope = Infinity;
  for (let i = skip + 1; i <= iMin && i < n; i++) {
    const g = (losses[i] - losses[i - 1]) / (Math.log(lrs[i]) - Math.log(lrs[i - 1]));
    if (g < slope) {
      slope = g;
      iSteep = i;
    }
  }
  const steepest = lrs[iSteep] ?? start;
  return { lrs, losses, steepest, minimumOver10: (lrs[iMin] ?? start) / 10, suggested: steepest, diverged };
}
