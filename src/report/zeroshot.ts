/**
 * `report.html` for `graft zeroshot`: the chosen regularisers with the held-out-seen-class accuracy
 * of every grid point (a plot against λ, one line per γ for ESZSL), and the calibrated-stacking
 * curve (seen / unseen accuracy and their harmonic mean against the constant γ).
 */
import { GRAFT_VERSION } from '../version.js';
import { escapeHtml as esc, formatNumber, percent } from './format.js';
import { kvTable, Page, table, type WrittenReport } from './page.js';
import { linePlotSvg, type Series } from './plot.js';
import type { ZslSelection } from '../strategies/zeroshot/select.js';

export async function writeZeroShotReport(dir: string, input: { title: string; summary: Record<string, string | number>; selection: ZslSelection; classes: { name: string; seen: boolean; images: number }[] }): Promise<WrittenReport> {
  const sel = input.selection;
  const page = new Page();
  const byGamma = new Map<string, { xs: number[]; ys: number[] }>();
  for (const g of sel.grid) {
    const gamma = 'gamma' in g.regularisers ? g.regularisers.gamma : undefined;
    // ESZSL: one line per whole-decade γ (the half decades in between are in the table).
    if (gamma !== undefined && Math.abs(Math.log10(gamma) - Math.round(Math.log10(gamma))) > 1e-9) continue;
    const key = gamma === undefined ? 'SAE' : `γ = ${formatNumber(gamma)}`;
    const s = byGamma.get(key) ?? { xs: [], ys: [] };
    s.xs.push(g.regularisers.lambda);
    s.ys.push(g.accuracy);
    byGamma.set(key, s);
  }
  const series: Series[] = [...byGamma].map(([name, s]) => {
    const o = s.xs.map((_, i) => i).sort((a, b) => s.xs[a] - s.xs[b]);
    return { name, xs: o.map((i) => s.xs[i]), ys: o.map((i) => s.ys[i]) };
  });
  const gridPlot = await page.plot(
    'zeroshot-regularisers.png',
    linePlotSvg(series, { title: 'Held-out seen classes: ZSL accuracy vs λ', xlabel: 'λ', ylabel: 'per-class mean accuracy', logX: true, yRange: [0, 1] }),
    'held-out class accuracy against the regularisers',
  );
  const cal = sel.calibration;
  const curve = cal.curve;
  const calPlot = await page.plot(
    'zeroshot-calibration.png',
    linePlotSvg(
      [
        { name: 'seen (S)', xs: curve.map((c) => c.gamma), ys: curve.map((c) => c.s) },
        { name: 'unseen (U)', xs: curve.map((c) => c.gamma), ys: curve.map((c) => c.u) },
        { name: 'H', xs: curve.map((c) => c.gamma), ys: curve.map((c) => c.h), dashed: true },
      ],
      { title: 'Calibrated stacking on the folds', xlabel: 'γ subtracted from seen-class scores', ylabel: 'per-class mean accuracy', yRange: [0, 1], markers: [{ x: cal.gamma, label: `γ = ${formatNumber(cal.gamma)}` }] },
    ),
    'seen, unseen accuracy and H against the calibration constant',
  );
  const top = [...sel.grid].sort((a, b) => b.accuracy - a.accuracy).slice(0, 10);
  const body = [
    `<h1>${esc(input.title)}</h1>`,
    `<p class="meta">graft ${esc(GRAFT_VERSION)} · zeroshot · written ${esc(new Date().toISOString())}</p>`,
    '<section id="summary"><h2>Summary</h2>',
    kvTable(input.summary),
    '</section>',
    '<section id="regularisers"><h2>Regularisers (chosen on held-out seen classes)</h2>',
    `<p>${sel.folds.length} class-disjoint folds; each fits on the other seen classes and scores ZSL on its held-out ones.</p>`,
    gridPlot,
    table(['regularisers', 'held-out accuracy'], top.map((g) => [JSON.stringify(g.regularisers), percent(g.accuracy)]), 'class="zsl-grid"'),
    '</section>',
    '<section id="calibration"><h2>Generalised ZSL: calibrated stacking</h2>',
    calPlot,
    kvTable({ γ: cal.gamma, 'fold S': percent(cal.s), 'fold U': percent(cal.u), 'fold H': percent(cal.h) }),
    '</section>',
    '<section id="classes"><h2>Classes</h2>',
    table(['class', 'kind', 'training images'], input.classes.map((c) => [c.name, c.seen ? 'seen' : 'unseen', c.images]), 'class="zsl-classes"'),
    '</section>',
  ];
  return page.write(dir, input.title, body.join('\n'));
}
