/**
 * `report.html` for a training run (train / finetune / transfer): run summary, learning curves,
 * confusion heat-map + table, per-class metrics, most-confused pairs, misclassified thumbnails and
 * the training configuration — one self-contained file, with the plots also written as PNGs beside it.
 */
import type { Evaluation } from '../eval/metrics.js';
import type { EpochLogs } from '../train/trainer.js';
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, percent } from './format.js';
import { confusionSvg } from './heatmap.js';
import { kvTable, Page, pngDataUri, table, type WrittenReport } from './page.js';
import { linePlotSvg } from './plot.js';
import { thumbnailPng, type ImageSource } from './thumbs.js';

export type RunKind = 'train' | 'finetune' | 'transfer';

/** A wrongly predicted test image: where its pixels are, the truth and the model's guess. */
export interface MisclassifiedSample extends ImageSource {
  trueLabel: string;
  predLabel: string;
  /** Probability the model gave its (wrong) prediction. */
  prob: number;
}

/** One stage of a multi-stage run (e.g. transfer: source pre-training, then target fine-tuning). */
export interface ReportStage {
  name: string;
  history: EpochLogs[];
  /** What one history entry is (default 'epoch'). */
  stepName?: string;
  summary?: Record<string, string | number>;
  val?: Evaluation;
  test?: Evaluation;
}

export interface RunReportInput {
  title: string;
  kind: RunKind;
  /** Backbone, data counts, metrics, timings… shown first, in this order. */
  summary: Record<string, string | number>;
  /** Training configuration (values may be objects; shown as compact JSON). */
  config?: Record<string, unknown>;
  history: EpochLogs[];
  /** What one history entry is (default 'epoch'; e.g. 'L-BFGS iteration'). */
  stepName?: string;
  val?: Evaluation;
  test?: Evaluation;
  /** The first N misclassified test images. */
  misclassified?: MisclassifiedSample[];
  /** How many test images were misclassified in all (defaults to the list's length). */
  misclassifiedTotal?: number;
  labels: string[];
  stages?: ReportStage[];
}

async function curves(page: Page, prefix: string, history: EpochLogs[], stepName: string): Promise<string> {
  if (history.length === 0) return '<p>No per-epoch history was recorded.</p>';
  const xs = history.map((h) => h.epoch);
  const col = (k: keyof EpochLogs) => history.map((h) => (h[k] === undefined ? NaN : (h[k] as number)));
  const hasVal = history.some((h) => h.val_loss !== undefined);
  const plot = (what: 'loss' | 'accuracy') => {
    const series = [
      { name: `train ${what}`, xs, ys: col(what) },
      ...(hasVal ? [{ name: `val ${what}`, xs, ys: col(what === 'loss' ? 'val_loss' : 'val_accuracy'), dashed: true }] : []),
    ];
    const ys = series.flatMap((s) => s.ys).filter(Number.isFinite);
    // Accuracy stays within [0, 1], with a margin around the curves.
    const yRange: [number, number] | undefined = what === 'accuracy' && ys.length ? [Math.max(0, Math.min(...ys) - 0.05), Math.min(1, Math.max(...ys) + 0.05)] : undefined;
    const svg = linePlotSvg(series, { title: `${what === 'loss' ? 'Loss' : 'Accuracy'} per ${stepName}`, xlabel: stepName, ylabel: what, yRange });
    return page.plot(`${prefix}${what}.png`, svg, `${what} per ${stepName}`);
  };
  return (await plot('loss')) + '\n' + (await plot('accuracy'));
}

function confusionTable(ev: Evaluation, split: string): string {
  const head = `<tr><th class="text">actual \\ predicted</th>${ev.labels.map((l) => `<th>${esc(l)}</th>`).join('')}<th>total</th></tr>`;
  const rows = ev.confusion.map(
    (row, i) =>
      `<tr><th class="text">${esc(ev.labels[i])}</th>${row.map((v, j) => `<td${i === j ? ' class="diag"' : ''}>${v}</td>`).join('')}<th>${row.reduce((a, b) => a + b, 0)}</th></tr>`,
  );
  return `<table class="confusion" data-split="${esc(split)}"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

async function evaluation(page: Page, prefix: string, split: 'test' | 'val', ev: Evaluation): Promise<string> {
  const name = split === 'test' ? 'Test' : 'Validation';
  const topK = Object.keys(ev.topK).length > 1 ? `, ${Object.entries(ev.topK).map(([k, v]) => `${k} ${percent(v)}`).join(', ')}` : '';
  const heat = await page.plot(`${prefix}confusion-${split}.png`, confusionSvg(ev.confusion, ev.labels, { title: `${name} confusion matrix` }), `${name} confusion matrix`);
  const perClass = table(
    ['class', 'precision', 'recall', 'F1', 'support'],
    ev.labels.map((l) => {
      const m = ev.perClass[l];
      return [l, m.precision.toFixed(3), m.recall.toFixed(3), m.f1.toFixed(3), m.support];
    }),
    `class="per-class" data-split="${split}"`,
  );
  const confused = ev.mostConfused.length
    ? table(['actual', 'predicted as', 'count'], ev.mostConfused.map((p) => [p.actual, p.predicted, p.count]), `class="most-confused" data-split="${split}"`)
    : '<p>No confusions.</p>';
  return [
    `<section id="${prefix}eval-${split}">`,
    `<h2>${name} set: accuracy ${percent(ev.accuracy)} on ${ev.n} images</h2>`,
    `<p>macro F1 ${ev.macroF1.toFixed(3)}${esc(topK)}</p>`,
    `<h3>Confusion matrix</h3>`,
    `<p>Rows: actual class; columns: predicted class. Shade: share of the row.</p>`,
    heat,
    confusionTable(ev, split),
    `<h3>Per-class metrics</h3>`,
    perClass,
    `<h3>Most confused pairs</h3>`,
    confused,
    '</section>',
  ].join('\n');
}

async function thumbnail(m: MisclassifiedSample): Promise<string> {
  if (!Number.isFinite(m.prob)) throw new Error(`report: misclassified sample ${m.id} has probability ${m.prob}`);
  const caption = `<figcaption>true <b>${esc(m.trueLabel)}</b> → predicted <b>${esc(m.predLabel)}</b> (${percent(m.prob)})<br><code>${esc(m.id)}</code></figcaption>`;
  try {
    const png = await thumbnailPng(m);
    return `<figure class="misclassified"><img alt="${esc(m.id)}" src="${pngDataUri(png)}">${caption}</figure>`;
  } catch (e) {
    return `<figure class="misclassified"><div class="missing">${esc((e as Error).message)}</div>${caption}</figure>`;
  }
}

async function misclassified(list: MisclassifiedSample[], total: number): Promise<string> {
  const figs = await Promise.all(list.map(thumbnail));
  const note = total > list.length ? ` (the first ${list.length} of ${total}, most confident first)` : total ? ' (most confident first)' : '';
  return [
    '<section id="misclassified">',
    `<h2>Misclassified test images: ${total}${esc(note)}</h2>`,
    figs.length ? `<div class="thumbs">${figs.join('\n')}</div>` : '<p>None.</p>',
    '</section>',
  ].join('\n');
}

async function evaluations(page: Page, prefix: string, s: { test?: Evaluation; val?: Evaluation }): Promise<string> {
  const out: string[] = [];
  if (s.test) out.push(await evaluation(page, prefix, 'test', s.test));
  if (s.val) out.push(await evaluation(page, prefix, 'val', s.val));
  return out.join('\n');
}

/** Write `dir/report.html` and its PNG plots (each file atomically). */
export async function writeRunReport(dir: string, r: RunReportInput): Promise<WrittenReport> {
  const page = new Page();
  const body: string[] = [
    `<h1>${esc(r.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · ${esc(r.kind)} run · ${r.labels.length} classes · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Run summary</h2>',
    kvTable(r.summary),
    '</section>',
    '<section id="curves"><h2>Learning curves</h2>',
    await curves(page, '', r.history, r.stepName ?? 'epoch'),
    '</section>',
    await evaluations(page, '', r),
  ];
  if (r.misclassified || r.misclassifiedTotal !== undefined) body.push(await misclassified(r.misclassified ?? [], r.misclassifiedTotal ?? r.misclassified?.length ?? 0));
  for (const [i, s] of (r.stages ?? []).entries()) {
    const prefix = `stage${i + 1}-`;
    body.push(
      `<section id="stage-${i + 1}" class="stage"><h2>Stage ${i + 1}: ${esc(s.name)}</h2>`,
      s.summary ? kvTable(s.summary) : '',
      await curves(page, prefix, s.history, s.stepName ?? 'epoch'),
      await evaluations(page, prefix, s),
      '</section>',
    );
  }
  if (r.config && Object.keys(r.config).length) body.push('<section id="config"><h2>Training configuration</h2>', kvTable(r.config), '</section>');
  return page.write(dir, r.title, body.join('\n'));
}

