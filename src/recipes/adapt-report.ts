/** Gathers what `graft adapt`'s report shows: the table, curves and PCA pictures before/after adaptation. */
import { writeAdaptReport, type AdaptScatter } from '../report/adapt.js';
import { gather, sampleRows, scatterOf } from './domain-scatter.js';
import type { Series } from '../report/plot.js';
import type { EpochLogs } from '../train/trainer.js';
import type { AdaptContext, AdaptMethod, MethodFit } from './adapt-methods.js';
import type { AdaptResult } from './adapt.js';
import { CRITERION_NAME as NAME, SELECTIONS } from './adapt-select.js';

function curvesOf(method: AdaptMethod, fit: MethodFit): { method: string; series: Series[]; ylabel: string } | undefined {
  if (fit.details.rounds) {
    const rounds = (fit.details.rounds ?? []) as { round: number; kept: number; sourceValAccuracy: number | null }[];
    if (!rounds.length) return undefined;
    return { method, ylabel: 'source val accuracy', series: [{ name: 'source val accuracy', xs: rounds.map((r) => r.round), ys: rounds.map((r) => r.sourceValAccuracy ?? NaN) }] };
  }
  const h: EpochLogs[] = fit.history;
  if (h.length < 2) return undefined;
  const xs = h.map((l) => l.epoch + 1);
  const series: Series[] = [{ name: 'train loss', xs, ys: h.map((l) => l.loss) }];
  if (h.some((l) => l.val_accuracy !== undefined)) series.push({ name: 'source val accuracy', xs, ys: h.map((l) => l.val_accuracy ?? NaN), dashed: true });
  if (method === 'dann') series.push({ name: 'domain classifier accuracy', xs, ys: h.map((l) => l.terms?.domainAccuracy ?? NaN) });
  return { method, series, ylabel: method === 'dann' ? 'loss / accuracy' : 'loss / accuracy' };
}

const CRITERION = { dev: 'lowest DEV risk', snd: 'highest SND', im: 'highest IM', bnm: 'highest BNM', ensv: 'highest EnsV (agreement with all methods’ ensemble)' } as const;

export async function adaptReport(
  dir: string,
  res: AdaptResult,
  d: { ctx: AdaptContext; fits: Partial<Record<AdaptMethod, MethodFit>>; sourceY: Int32Array; targetY?: Int32Array; labels: string[] },
): Promise<void> {
  const { ctx } = d;
  const dim = ctx.train.dim;
  const sr = sampleRows(ctx.train.n, 400, ctx.seed);
  const tr = sampleRows(ctx.target.n, 400, ctx.seed + 1);
  const sx = gather(ctx.train.x, dim, sr);
  const tx = gather(ctx.target.x, dim, tr);
  const cls = Int32Array.from([...Array.from(sr, (r) => d.sourceY[r]), ...Array.from(tr, (r) => (d.targetY ? d.targetY[r] : -1))]);
  const scatters: AdaptScatter[] = scatterOf('before adaptation (backbone features)', { x: sx, dim }, { x: tx, dim }, sr.length, tr.length, cls, ctx.seed);
  for (const [m, fit] of Object.entries(d.fits) as [AdaptMethod, MethodFit][]) {
    if (!fit.represent) continue;
    const a = fit.represent(sx, sr.length, 'source');
    const b = fit.represent(tx, tr.length, 'target');
    scatters.push(...scatterOf(`after ${m}`, a, b, sr.length, tr.length, cls, ctx.seed));
  }
  const methods = Object.keys(res.methods) as AdaptMethod[];
  await writeAdaptReport(dir, {
    title: `graft adapt ${res.source.folder} → ${res.target.folder}`,
    summary: {
      backbone: res.backbone.name,
      source: `${res.source.folder}: ${res.source.train} train / ${res.source.val} val / ${res.source.test} test images`,
      target: `${res.target.folder}: ${res.target.images} images (labels ${res.target.labels === null ? 'none' : res.target.labels === 'target-test' ? 'from --target-test' : 'from its class folders, evaluation only'})`,
      chosen: `${res.chosen} (${res.selection.chosenBy === 'user' ? 'asked for' : `${CRITERION[res.selection.chosenBy]}, no target labels used`})`,
      ...(res.selection.chosenBy !== 'user' ? { picks: SELECTIONS.map((c) => `${NAME[c]}: ${res.selection.picks[c] ?? '—'}`).join('; ') } : {}),
      ...(res.selection.oracleBest && res.selection.belowBest
        ? { 'best by target labels (oracle)': `${res.selection.oracleBest}; points below it: ${SELECTIONS.map((c) => `${NAME[c]}'s pick ${res.selection.belowBest![c].toFixed(1)}`).join(', ')}` }
        : {}),
      seconds: +res.seconds.toFixed(1),
    },
    rows: methods.map((m) => ({ method: m, chosen: m === res.chosen, ...res.methods[m]! })),
    labels: d.labels,
    curves: methods.map((m) => (d.fits[m] ? curvesOf(m, d.fits[m]!) : undefined)).filter((c) => c !== undefined),
    scatters,
    oracleNote:
      'Target accuracy uses target labels and is an oracle number: it is reported, never used to choose. The choice uses DEV (You et al. 2019: source validation error weighted by density ratios from a domain classifier on each method’s own representation, with DEV’s control variate) or, with --selection snd|im|bnm|ensv, a score of the target predictions alone: SND (Saito et al. 2021: soft neighbourhood density), IM (information maximisation, H(mean p) − mean H(p); Liang et al. 2020), BNM (batch nuclear norm; Cui et al. 2020) — IM and BNM as validators as in Musgrave et al. 2022 — or EnsV (Hu et al. 2024: agreement with the ensemble of all methods).',
  });
}
