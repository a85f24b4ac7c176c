/**
 * `report.html` for `graft fewshot`: mean episode accuracy ± 95% CI per method and shot count, as
 * a table and a plot (accuracy against shots, one line per method, CI error bars, chance dashed).
 */
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg, type Series } from './plot.js';

export interface FewShotRow {
  method: string;
  ways: number;
  shots: number;
  queries: number;
  mean: number;
  ci95: number;
  episodes: number;
  /** Wall time of the method over all its episodes. */
  seconds: number;
}

export async function writeFewShotReport(dir: string, input: { title: string; summary: Record<string, string | number>; results: FewShotRow[] }): Promise<WrittenReport> {
  const { results } = input;
  if (!results.length) throw new Error(`${dir}: few-shot report has no results`);
  const methods = [...new Set(results.map((r) => r.method))];
  const shots = [...new Set(results.map((r) => r.shots))].sort((a, b) => a - b);
  const ways = results[0].ways;
  const series: Series[] = methods.map((m) => {
    const rows = results.filter((r) => r.method === m).sort((a, b) => a.shots - b.shots);
    return { name: m, xs: rows.map((r) => r.shots), ys: rows.map((r) => r.mean), err: rows.map((r) => r.ci95) };
  });
  series.push({ name: `chance (1/${ways})`, xs: shots, ys: shots.map(() => 1 / ways), dashed: true, color: '#7f7f7f' });
  const page = new Page();
  const plot = await page.plot(
    'fewshot-accuracy.png',
    linePlotSvg(series, { title: `${ways}-way accuracy vs shots (mean ± 95% CI)`, xlabel: 'shots (support images per class)', ylabel: 'query accuracy', logX: shots.length > 1 && shots[shots.length - 1] / shots[0] >= 4 }),
    'accuracy against shots per method',
  );
  const rows = results.map((r) => [r.method, r.ways, r.shots, r.queries, `${percent(r.mean)} ± ${percent(r.ci95)}`, r.episodes, r.seconds]);
  const body = [
    `<h1>${esc(input.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · fewshot · ${methods.length} methods · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(input.summary),
    '</section>',
    '<section id="results"><h2>Episode accuracy</h2>',
    table(['method', 'ways', 'shots', 'queries per class', 'accuracy (mean ± 95% CI)', 'episodes', 'seconds'], rows, 'class="fewshot"'),
    plot,
    '</section>',
  ];
  return page.write(dir, input.title, body.join('\n'));
}
