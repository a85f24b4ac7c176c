/**
 * `report.html` for `graft disentangle`: the summary, the probe table that shows the separation
 * (class and domain accuracy of a linear probe on the backbone features, the shared code and the
 * private code), target accuracy next to source-only and DANN (oracle numbers), the four DSN
 * losses per epoch, and PCA pictures of each space by domain and by class.
 */
import { GRAFT_VERSION } from '../version.js';
import type { EpochLogs } from '../train/trainer.js';
import { scatterSection, type AdaptScatter } from './adapt.js';
import { escapeHtml as esc, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg, type Series } from './plot.js';

export interface DisentangleReportInput {
  title: string;
  summary: Record<string, string | number>;
  probes: { space: string; class: number | null; domain: number }[];
  classChance: number;
  targets: { model: string; accuracy: number | null }[];
  history: EpochLogs[];
  labels: string[];
  scatters: AdaptScatter[];
}

const pct = (v: number | null) => (v === null ? '—' : percent(v));

function curves(h: EpochLogs[]): { losses: Series[]; accuracy: Series[] } {
  const xs = h.map((l) => l.epoch + 1);
  const term = (name: string) => ({ name, xs, ys: h.map((l) => l.terms?.[name] ?? NaN) });
  const accuracy: Series[] = [{ name: 'domain discriminator accuracy', xs, ys: h.map((l) => l.terms?.domainAccuracy ?? NaN) }];
  if (h.some((l) => l.val_accuracy !== undefined)) accuracy.push({ name: 'source val accuracy', xs, ys: h.map((l) => l.val_accuracy ?? NaN), dashed: true });
  return { losses: [term('ce'), term('recon'), term('difference'), term('similarity')], accuracy };
}

export async function writeDisentangleReport(dir: string, r: DisentangleReportInput): Promise<WrittenReport> {
  const page = new Page();
  const body: string[] = [
    `<h1>${esc(r.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · disentangle · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(r.summary),
    '</section>',
    '<section id="probes"><h2>What each code carries (linear probes)</h2>',
    `<p>Class: a logistic regression fitted on the source training rows, scored on source validation rows (chance ${percent(r.classChance)}). Domain: source vs target, equally many rows of each, scored on held-out rows (balanced accuracy, chance 50%). A disentangled shared code scores high on class and near chance on domain; the private code the reverse.</p>`,
    table(['space', 'class accuracy', 'domain accuracy'], r.probes.map((p) => [p.space, pct(p.class), pct(p.domain)]), 'class="probes"'),
    '</section>',
  ];
  if (r.targets.some((t) => t.accuracy !== null)) {
    body.push('<section id="target"><h2>Target accuracy (oracle: target labels score, never train or choose)</h2>', table(['model', 'target accuracy'], r.targets.map((t) => [t.model, pct(t.accuracy)]), 'class="targets"'), '</section>');
  }
  if (r.history.length >= 2) {
    const c = curves(r.history);
    body.push(
      '<section id="curves"><h2>Training curves</h2>',
      await page.plot('disentangle-losses.png', linePlotSvg(c.losses, { title: 'DSN losses (unweighted)', xlabel: 'epoch', ylabel: 'loss' }), 'DSN losses per epoch'),
      await page.plot('disentangle-accuracy.png', linePlotSvg(c.accuracy, { title: 'accuracies', xlabel: 'epoch', ylabel: 'accuracy' }), 'domain discriminator and source val accuracy per epoch'),
      '</section>',
    );
  }
  if (r.scatters.length) body.push(...(await scatterSection(page, r.scatters, r.labels, 'disentangle-pca', 'Backbone features, shared code and private code (PCA)')));
  return page.write(dir, r.title, body.join('\n'));
}
