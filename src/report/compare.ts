/**
 * `report.html` for `graft compare`: methods × label budgets → a table and two plots (accuracy and
 * time against labels per class, log x, one line per method with a ± std band and error bars).
 */
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, formatNumber, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg, type Series } from './plot.js';

/** One method at one label budget, averaged over `repeats` runs. */
export interface ComparePoint {
  method: string;
  /** Labelled training images per class. */
  budget: number;
  /** Mean accuracy (a fraction) and its standard deviation over the repeats. */
  accuracy: number;
  std: number;
  /** Mean wall time of one run, and its standard deviation. */
  seconds: number;
  secondsStd?: number;
  repeats: number;
}

export interface CompareReportInput {
  title: string;
  summary: Record<string, string | number>;
  points: ComparePoint[];
}

function check(dir: string, points: ComparePoint[]): void {
  if (points.length === 0) throw new Error(`${dir}: compare report has no points`);
  points.forEach((p, i) => {
    const where = `${dir}: compare point ${i} (method "${p.method}", budget ${p.budget})`;
    if (!p.method) throw new Error(`${where}: empty method name`);
    if (!(Number.isFinite(p.budget) && p.budget > 0)) throw new Error(`${where}: budget must be a positive number (the x axis is logarithmic)`);
    for (const k of ['accuracy', 'std', 'seconds', 'secondsStd'] as const) {
      const v = p[k];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new Error(`${where}: ${k} must be a finite number ≥ 0, got ${v}`);
    }
    if (!(Number.isInteger(p.repeats) && p.repeats >= 1)) throw new Error(`${where}: repeats must be an integer ≥ 1, got ${p.repeats}`);
  });
}

/** Points grouped by method (first-appearance order), each group sorted by budget. */
function byMethod(points: ComparePoint[]): Map<string, ComparePoint[]> {
  const groups = new Map<string, ComparePoint[]>();
  for (const p of points) groups.set(p.method, [...(groups.get(p.method) ?? []), p]);
  for (const g of groups.values()) g.sort((a, b) => a.budget - b.budget);
  return groups;
}

/** Write `dir/report.html` with compare-accuracy.png and compare-time.png beside it. */
export async function writeCompareReport(dir: string, input: CompareReportInput): Promise<WrittenReport> {
  check(dir, input.points);
  const groups = [...byMethod(input.points)];
  const series = (y: (p: ComparePoint) => number, err: (p: ComparePoint) => number | undefined): Series[] =>
    groups.map(([method, g]) => ({ name: method, xs: g.map((p) => p.budget), ys: g.map(y), err: g.map((p) => err(p) ?? 0) }));
  const page = new Page();
  const xlabel = 'labelled images per class';
  const acc = await page.plot(
    'compare-accuracy.png',
    linePlotSvg(series((p) => p.accuracy, (p) => p.std), { title: 'Accuracy vs labels per class (mean ± std)', xlabel, ylabel: 'accuracy', logX: true }),
    'accuracy against labels per class',
  );
  const time = await page.plot(
    'compare-time.png',
    linePlotSvg(series((p) => p.seconds, (p) => p.secondsStd), { title: 'Time per run vs labels per class', xlabel, ylabel: 'seconds', logX: true }),
    'seconds against labels per class',
  );
  const pm = (m: string, s: string | undefined) => (s === undefined ? m : `${m} ± ${s}`);
  const rows = groups.flatMap(([, g]) =>
    g.map((p) => [p.method, p.budget, pm(percent(p.accuracy), percent(p.std)), pm(formatNumber(p.seconds), p.secondsStd === undefined ? undefined : formatNumber(p.secondsStd)), p.repeats]),
  );
  const body = [
    `<h1>${esc(input.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · compare · ${groups.length} methods · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(input.summary),
    '</section>',
    '<section id="plots"><h2>Plots</h2>',
    acc,
    time,
    '</section>',
    '<section id="results"><h2>Results</h2>',
    table(['method', 'labels per class', 'accuracy (mean ± std)', 'seconds (mean ± std)', 'repeats'], rows, 'class="compare"'),
    '</section>',
  ];
  return page.write(dir, input.title, body.join('\n'));
}
