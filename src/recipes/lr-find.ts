/**
 * `graft lr-find`: the LR range test (Smith; fastai's lr_find), with a plot: for an MLP head on
 * (cached) backbone features, or — with `unfreeze`/`cut` — for the fine-tuning network (the
 * unfrozen tail + a new classifier on cached cut activations), everything at one learning rate.
 */
import { buildHead, columnStats, standardize } from '../train/heads.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { lrFind, type LrFindOptions, type LrFindResult } from '../train/lr-find.js';
import { linePlotSvg, writeSvgPng } from '../report/plot.js';
import { openFeatureRun, runSpec, type RunOptions } from './run.js';
import { buildTailModel, resolveCut } from './tail-fit.js';

export interface LrFindRecipeOptions extends Omit<RunOptions, 'out'> {
  hidden?: number[];
  dropout?: number;
  batchSize?: number;
  steps?: number;
  startLr?: number;
  endLr?: number;
  seed?: number;
  /** Write the loss-vs-LR plot here (PNG). */
  plot?: string;
  /** Test the fine-tuning network of `graft finetune --unfreeze K` (or `--cut`) instead of an MLP head. */
  unfreeze?: number;
  cut?: string;
}

export interface LrFindRecipeResult extends LrFindResult {
  plot?: string;
  images: number;
}

export async function lrFindRecipe(o: LrFindRecipeOptions): Promise<LrFindRecipeResult> {
  const tailCut = o.unfreeze !== undefined || o.cut !== undefined ? resolveCut(await runSpec(o), o).cut : undefined;
  const run = await openFeatureRun({ ...o, out: '' }, tailCut);
  const { splits: sp } = run;
  let model: tfl.LayersModel | undefined;
  let full: tfl.LayersModel | undefined;
  try {
    const k = run.ds.labels.length;
    let opts: LrFindOptions;
    if (tailCut) {
      const spec = await runSpec(o);
      ({ model: full } = await spec.load({ weights: o.weights }));
      model = buildTailModel(spec, full, tailCut, run.dim, k, { seed: o.seed }).model;
      opts = { optimizer: 'adamw', weightDecay: 1e-2, batchSize: o.batchSize ?? 32 };
    } else {
      model = buildHead({ kind: 'mlp', inputDim: run.dim, numClasses: k, hidden: o.hidden ?? [512], dropout: o.dropout ?? 0.5 }, o.seed ?? 0);
      const { mean, std } = columnStats(sp.train.x, sp.train.n, sp.train.dim);
      standardize(sp.train.x, sp.train.n, sp.train.dim, mean, std, true);
      opts = { optimizer: 'adamw', weightDecay: 5e-2, batchSize: o.batchSize ?? 64 };
    }
    const what = tailCut ? `the network from ${tailCut} + a new classifier` : 'an MLP head';
    run.reporter.info(`LR range test for ${what}: ${o.startLr ?? 1e-7} → ${o.endLr ?? 10} over up to ${o.steps ?? 100} steps on ${sp.train.n} images`);
    const r = await lrFind(model, sp.train, { ...opts, steps: o.steps, startLr: o.startLr, endLr: o.endLr, seed: o.seed });
    if (o.plot) {
      const svg = linePlotSvg([{ name: 'loss', xs: r.lrs, ys: r.losses }], {
        title: `LR range test, ${what} (smoothed training loss)`,
        xlabel: 'learning rate',
        ylabel: 'loss',
        logX: true,
        markers: [{ x: r.suggested, label: `suggested ${r.suggested.toExponential(1)}` }],
      });
      await writeSvgPng(svg, o.plot);
    }
    return { ...r, plot: o.plot, images: sp.train.n };
  } finally {
    model?.dispose();
    full?.dispose();
    await run.backbone.dispose();
  }
}
