/**
 * `report.html` for `graft pretrain`: the summary, the before/after linear probe (when the folder
 * has labels), the self-supervised training curves (loss and the objective's own accuracy), and
 * 2-D PCA pictures of the features before and after adaptation, coloured by label folder (or by
 * the bundle's cluster when there are no labels).
 */
import { GRAFT_VERSION } from '../version.js';
import { fitPca, transformPca } from '../strategies/cluster/pca.js';
import type { EpochLogs } from '../train/trainer.js';
import { escapeHtml as esc, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg } from './plot.js';
import { scatterSvg } from './scatter.js';

export interface PretrainReportInput {
  title: string;
  summary: Record<string, string | number>;
  probes: { shots: number; before: { accuracy: number; std: number }; after: { accuracy: number; std: number }; queries: number }[];
  history: EpochLogs[];
  /** The objective's accuracy term in the history (top1, rotationAccuracy). */
  accuracyTerm: string;
  /** Features before (null when not computed) and after, n × dim, and each row's group for colouring. */
  before: Float32Array | null;
  after: Float32Array;
  n: number;
  dim: number;
  groups: Int32Array;
  groupNames: string[];
  groupKind: 'label folder' | 'cluster';
}

/** A seeded PCA picture of at most 3,000 rows. */
function pcaScatter(x: Float32Array, n: number, dim: number, groups: Int32Array, names: string[], title: string): string {
  const step = Math.max(1, Math.ceil(n / 3000));
  const idx = Array.from({ length: Math.ceil(n / step) }, (_, i) => i * step);
  const sub = new Float32Array(idx.length * dim);
  idx.forEach((r, i) => sub.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  const dims = Math.min(2, dim, idx.length);
  const p = fitPca(sub, idx.length, dim, dims, { seed: 0 });
  const xy = transformPca(p, sub, idx.length);
  const pc = (j: number) => Float32Array.from(idx, (_, i) => (j < dims ? xy[i * dims + j]! : 0));
  const ev = (j: number) => (j < dims ? p.variances[j]! / p.totalVariance : 0);
  return scatterSvg(pc(0), pc(1), Int32Array.from(idx, (r) => groups[r]!), { title, xlabel: `PC1 (${percent(ev(0))} of variance)`, ylabel: `PC2 (${percent(ev(1))})`, width: 520, height: 420, groupNames: names });
}

export async function writePretrainReport(dir: string, r: PretrainReportInput): Promise<WrittenReport> {
  const page = new Page();
  const body: string[] = [
    `<h1>${esc(r.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · pretrain · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(r.summary),
    '</section>',
  ];
  if (r.probes.length) {
    body.push(
      '<section id="probe"><h2>Linear probe before and after</h2>',
      '<p>The label folders were not used for training. A logistic regression on N labelled images per class (seeded draws, the same draws before and after), scored on the other images — which pretraining saw unlabelled (a transductive probe).</p>',
      table(
        ['labels per class', 'before', 'after', 'Δ points', 'queries'],
        r.probes.map((p) => [p.shots, `${percent(p.before.accuracy)} ± ${(100 * p.before.std).toFixed(1)}`, `${percent(p.after.accuracy)} ± ${(100 * p.after.std).toFixed(1)}`, (100 * (p.after.accuracy - p.before.accuracy)).toFixed(1), p.queries]),
      ),
      '</section>',
    );
  }
  const xs = r.history.map((h) => h.epoch + 1);
  body.push('<section id="curves"><h2>Training</h2>');
  body.push(await page.plot('pretrain-loss.png', linePlotSvg([{ name: 'loss', xs, ys: r.history.map((h) => h.loss) }], { title: 'self-supervised loss', xlabel: 'epoch', ylabel: 'loss' }), 'loss per epoch'));
  const acc = r.history.map((h) => h.terms?.[r.accuracyTerm] ?? NaN);
  if (acc.some(Number.isFinite)) body.push(await page.plot('pretrain-accuracy.png', linePlotSvg([{ name: r.accuracyTerm, xs, ys: acc }], { title: r.accuracyTerm === 'top1' ? 'contrastive top-1 (positive is the nearest other view)' : 'rotation accuracy', xlabel: 'epoch', ylabel: 'accuracy' }), 'objective accuracy per epoch'));
  body.push('</section>');
  body.push(`<section id="features"><h2>Features (PCA), coloured by ${esc(r.groupKind)}</h2>`);
  if (r.before) body.push(await page.plot('pretrain-pca-before.png', pcaScatter(r.before, r.n, r.dim, r.groups, r.groupNames, 'before (pretrained backbone)'), 'features before'));
  body.push(await page.plot('pretrain-pca-after.png', pcaScatter(r.after, r.n, r.dim, r.groups, r.groupNames, 'after (adapted tail)'), 'features after'));
  body.push('</section>');
  return page.write(dir, r.title, body.join('\n'));
}
