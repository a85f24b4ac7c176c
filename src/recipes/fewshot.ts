/**
 * `graft fewshot DATA`: episodic evaluation of few-shot classifiers on a backbone's features.
 * Every image goes through the feature store once; then, for each shot count, the same seeded
 * N-way K-shot episodes are given to every method (src/strategies/fewshot/methods.ts), and each
 * method's mean query accuracy ± 95% CI is reported, written to fewshot.json and report.html.
 */
import path from 'node:path';
import { initTf } from '../engine/tfjs.js';
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Skipped } from '../data/types.js';
import { openBackboneSpec } from '../models/backbone.js';
import type { EngineName } from '../models/types.js';
import { extractFeatures } from '../features/extract.js';
import { eligibleClasses, gatherRows, meanCi95, rowsByClass, sampleEpisodes } from '../strategies/fewshot/episodes.js';
import { FEWSHOT_METHODS, predictEpisode, type FewShotMethod, type MethodOptions } from '../strategies/fewshot/methods.js';
import { writeFewShotReport, type FewShotRow } from '../report/fewshot.js';
import { writeFileAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { runSpec } from './run.js';

export interface FewShotOptions extends LoadOptions, MethodOptions {
  data: string;
  /** Folder for fewshot.json and report.html. */
  out: string;
  ways?: number;
  shots?: number[];
  queries?: number;
  episodes?: number;
  methods?: FewShotMethod[];
  backbone?: string;
  weights?: string;
  from?: string;
  engine?: EngineName;
  threads?: number;
  reporter?: Reporter;
}

export interface FewShotResult {
  results: FewShotRow[];
  data: { images: number; classes: number; skipped: Skipped[] };
  backbone: { name: string; dim: number; layer: string };
  features: { computed: number; cached: number; seconds: number };
  json: string;
  report: string;
  seconds: number;
}

function positive(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer, got ${v}`);
  return v;
}

export async function fewShotRecipe(o: FewShotOptions): Promise<FewShotResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  const ways = positive('ways', o.ways ?? 5);
  const shotsList = (o.shots ?? [1, 5]).map((s) => positive('shots', s));
  const queries = positive('queries', o.queries ?? 15);
  const episodes = positive('episodes', o.episodes ?? 600);
  const methods = o.methods ?? [...FEWSHOT_METHODS];
  const seed = o.seed ?? 0;
  if (ways < 2) throw new Error(`--ways: an episode needs at least 2 classes, got ${ways}`);
  await initTf();
  const ds = await loadDataset(o.data, { ...o, valPercent: 0, testPercent: 0 });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const byLabel = rowsByClass(ds.samples.map((s) => s.label), ds.labels.length);
  eligibleClasses(byLabel, ds.labels, ways, Math.max(...shotsList) + queries); // fail before any backbone work
  const backbone = await openBackboneSpec(await runSpec(o), { engine: o.engine, threads: o.threads, weights: o.weights });
  const tf0 = performance.now();
  let feats;
  try {
    reporter.info(`${ds.samples.length} images, ${ds.labels.length} classes; features from ${backbone.spec.name} (${backbone.layer}, ${backbone.dim}-d)`);
    feats = await extractFeatures(ds.samples, backbone, { reporter, strict: o.strict });
  } finally {
    await backbone.dispose();
  }
  const featureSeconds = (performance.now() - tf0) / 1000;
  const { dim } = feats;
  const byClass = rowsByClass(feats.samples.map((s) => s.label), ds.labels.length);
  const results: FewShotRow[] = [];
  const perEpisode: Record<string, number[]> = {};
  const bar = reporter.progress('episodes', shotsList.length * episodes);
  for (const shots of shotsList) {
    const eligible = eligibleClasses(byClass, ds.labels, ways, shots + queries);
    const eps = sampleEpisodes(byClass, eligible, { ways, shots, queries, episodes, seed: seed * 1000 + shots });
    const accs = methods.map(() => [] as number[]);
    const secs = methods.map(() => 0);
    for (const ep of eps) {
      const support = { x: gatherRows(feats.data, dim, ep.support), y: ep.supportY, n: ep.support.length, dim };
      const q = gatherRows(feats.data, dim, ep.query);
      for (const [m, method] of methods.entries()) {
        const t = performance.now();
        const pred = await predictEpisode(method, support, q, ep.query.length, ways, { ...o, seed });
        secs[m] += (performance.now() - t) / 1000;
        let correct = 0;
        for (let i = 0; i < pred.length; i++) if (pred[i] === ep.queryY[i]) correct++;
        accs[m].push(correct / pred.length);
      }
      bar.tick();
    }
    methods.forEach((method, m) => {
      const { mean, ci95 } = meanCi95(accs[m]);
      results.push({ method, ways, shots, queries, mean, ci95, episodes, seconds: secs[m] });
      perEpisode[`${method}/${shots}`] = accs[m];
      reporter.info(`  ${method} ${ways}-way ${shots}-shot: ${(100 * mean).toFixed(2)}% ± ${(100 * ci95).toFixed(2)} (${secs[m].toFixed(1)} s)`);
    });
  }
  bar.done();
  const settings = { data: path.resolve(o.data), backbone: backbone.spec.name, ways, shots: shotsList, queries, episodes, seed, methods, knnK: o.knnK ?? 1, finetuneSteps: o.finetuneSteps ?? 100, finetuneLr: o.finetuneLr ?? 1e-2 };
  const json = path.join(o.out, 'fewshot.json');
  writeFileAtomic(json, JSON.stringify({ settings, results, perEpisode }, null, 2) + '\n');
  const report = await writeFewShotReport(o.out, {
    title: `graft fewshot: ${o.data}`,
    summary: {
      data: path.resolve(o.data),
      'images (classes)': `${feats.n} (${ds.labels.length})`,
      backbone: `${backbone.spec.name} (${backbone.layer}, ${dim}-d)`,
      episodes: `${episodes} per shot count, seed ${seed}; ${queries} queries per class; the same episodes for every method`,
      'CI': '95% confidence interval of the mean: 1.96 · std / √episodes',
      methods: methods.join(', '),
      'kNN k': settings.knnK,
      'fine-tuning': `${settings.finetuneSteps} Adam steps, lr ${settings.finetuneLr}, from the prototype head`,
    },
    results,
  });
  return {
    results,
    data: { images: feats.n, classes: ds.labels.length, skipped: [...ds.skipped, ...feats.skipped] },
    backbone: { name: backbone.spec.name, dim, layer: backbone.layer },
    features: { computed: feats.computed, cached: feats.cached, seconds: featureSeconds },
    json,
    report: report.html,
    seconds: (performance.now() - t0) / 1000,
  };
}
