/**
 * `report.html` for `graft adapt`: the comparison table (source validation accuracy, the DEV
 * risk and SND / IM / BNM / EnsV selection scores, and — marked as oracle numbers — target accuracy), learning curves, DANN's
 * domain-classifier accuracy, and 2-D PCA pictures of source and target rows before and after
 * adaptation, coloured by domain and by class.
 */
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg, type Series } from './plot.js';
import { scatterSvg } from './scatter.js';

export interface AdaptReportRow {
  method: string;
  chosen: boolean;
  sourceValAccuracy: number | null;
  devRisk: number | null;
  snd: number;
  im: number;
  bnm: number;
  ensv: number | null;
  targetAccuracy: number | null;
  targetEntropy: number;
  seconds: number;
}

export interface AdaptScatter {
  title: string;
  xs: Float32Array;
  ys: Float32Array;
  /** 0 = source, 1 = target. */
  domain: Int32Array;
  /** Class index per point (-1: unknown target label). */
  cls: Int32Array;
  embedding: 'PCA' | 'UMAP';
  /** PCA: the share of variance on each axis. */
  explained?: [number, number];
}

export interface AdaptReportInput {
  title: string;
  summary: Record<string, string | number>;
  rows: AdaptReportRow[];
  labels: string[];
  /** Per method: its training curves (x = epoch or round). */
  curves: { method: string; series: Series[]; ylabel: string }[];
  scatters: AdaptScatter[];
  oracleNote: string;
}

const pct = (v: number | null) => (v === null ? '—' : percent(v));

export async function writeAdaptReport(dir: string, r: AdaptReportInput): Promise<WrittenReport> {
  const page = new Page();
  const body: string[] = [
    `<h1>${esc(r.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · adapt · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(r.summary),
    '</section>',
    '<section id="methods"><h2>Methods</h2>',
    `<p>${esc(r.oracleNote)}</p>`,
    table(
      ['method', 'chosen', 'source val accuracy', 'DEV risk (lower is better)', 'SND', 'IM', 'BNM', 'EnsV (these four: higher is better)', 'target accuracy (oracle)', 'target entropy', 'seconds'],
      r.rows.map((x) => [x.method, x.chosen ? '✓' : '', pct(x.sourceValAccuracy), x.devRisk === null ? '—' : +x.devRisk.toFixed(4), ...[x.snd, x.im, x.bnm, x.ensv ?? NaN].map((v) => (Number.isFinite(v) ? +v.toFixed(4) : '—')), pct(x.targetAccuracy), +x.targetEntropy.toFixed(3), +x.seconds.toFixed(1)]),
      'class="methods"',
    ),
    '</section>',
  ];
  if (r.curves.length) {
    body.push('<section id="curves"><h2>Training curves</h2>');
    for (const c of r.curves) {
      const svg = linePlotSvg(c.series, { title: `${c.method}`, xlabel: c.method.endsWith('self-train') ? 'round' : 'epoch', ylabel: c.ylabel });
      body.push(await page.plot(`adapt-curve-${c.method}.png`, svg, `${c.method} training curves`));
    }
    body.push('</section>');
  }
  if (r.scatters.length) body.push(...(await scatterSection(page, r.scatters, r.labels, 'adapt-pca', 'Source and target features (PCA)')));
  return page.write(dir, r.title, body.join('\n'));
}

/** PCA pictures of source and target rows, each by domain and by class, as one report section. */
export async function scatterSection(page: Page, scatters: AdaptScatter[], labels: string[], prefix: string, heading: string): Promise<string[]> {
  const body = [
    `<section id="scatter"><h2>${esc(heading)}</h2><p>Left: coloured by domain. Right: coloured by class (target points by their true label where known; grey when not). PCA keeps distances along its two axes; UMAP (umap-js, on ≤50 PCA components, seeded) keeps neighbourhoods — clusters mean something there, distances between them less.</p>`,
  ];
  const number = new Map<string, number>(); // one number per space, shared by its PCA and UMAP pictures
  for (const s of scatters) {
    if (!number.has(s.title)) number.set(s.title, number.size);
    const i = number.get(s.title)!;
    const axes = s.embedding === 'PCA' && s.explained ? { xlabel: `PC1 (${percent(s.explained[0])} of variance)`, ylabel: `PC2 (${percent(s.explained[1])})` } : { xlabel: 'UMAP 1', ylabel: 'UMAP 2' };
    const o = { ...axes, width: 520, height: 420 };
    const byDomain = scatterSvg(s.xs, s.ys, s.domain, { ...o, title: `${s.title} (${s.embedding}): domain`, groupNames: ['source', 'target'] });
    const cls = Int32Array.from(s.cls, (c) => (c < 0 ? labels.length : c));
    const byClass = scatterSvg(s.xs, s.ys, cls, { ...o, title: `${s.title} (${s.embedding}): class`, groupNames: [...labels, 'unknown'] });
    const file = s.embedding === 'PCA' ? `${prefix}-${i}` : `${prefix.replace('-pca', '-umap')}-${i}`;
    body.push(`<h3>${esc(s.title)} — ${s.embedding}</h3>`, await page.plot(`${file}-domain.png`, byDomain, `${s.title} by domain (${s.embedding})`), await page.plot(`${file}-class.png`, byClass, `${s.title} by class (${s.embedding})`));
  }
  body.push('</section>');
  return body;
}
