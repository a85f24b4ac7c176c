/** `graft lr-find`: the LR range test for an MLP head on (cached) backbone features, with a plot. */
import { buildHead, columnStats, standardize } from '../train/heads.js';
import { lrFind, type LrFindResult } from '../train/lr-find.js';
import { linePlotSvg, writeSvgPng } from '../report/plot.js';
import { openFeatureRun, type RunOptions } from './run.js';

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
}

export interface LrFindRecipeResult extends LrFindResult {
  plot?: string;
  images: number;
}

export async function lrFindRecipe(o: LrFindRecipeOptions): Promise<LrFindRecipeResult> {
  const run = await openFeatureRun({ ...o, out: '' });
  const { splits: sp } = run;
  const head = buildHead({ kind: 'mlp', inputDim: run.dim, numClasses: run.ds.labels.length, hidden: o.hidden ?? [512], dropout: o.dropout ?? 0.5 }, o.seed ?? 0);
  try {
    const { mean, std } = columnStats(sp.train.x, sp.train.n, sp.train.dim);
    standardize(sp.train.x, sp.train.n, sp.train.dim, mean, std, true);
    run.reporter.info(`LR range test: ${o.startLr ?? 1e-7} → ${o.endLr ?? 10} over up to ${o.steps ?? 100} steps on ${sp.train.n} images`);
    const r = await lrFind(head, sp.train, { optimizer: 'adamw', weightDecay: 5e-2, batchSize: o.batchSize ?? 64, steps: o.steps, startLr: o.startLr, endLr: o.endLr, seed: o.seed });
    if (o.plot) {
      const svg = linePlotSvg([{ name: 'loss', xs: r.lrs, ys: r.losses }], {
        title: 'LR range test (smoothed training loss)',
        xlabel: 'learning rate',
        ylabel: 'loss',
        logX: true,
        markers: [{ x: r.suggested, label: `suggested ${r.suggested.toExponential(1)}` }],
      });
      await writeSvgPng(svg, o.plot);
    }
    return { ...r, plot: o.plot, images: sp.train.n };
  } finally {
    head.dispose();
    await run.backbone.dispose();
  }
}
