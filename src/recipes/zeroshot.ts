/**
 * `graft zeroshot --seen DIR --classes classes.csv --out DIR` (or `--class-embeddings emb.npy
 * --class-names names.txt`): a classifier over every class of the table, trained on images of the
 * seen ones only. Features of the seen images (feature store) → ESZSL or SAE closed form with its
 * regularisers, calibrated-stacking constant and temperature chosen on held-out seen classes
 * (src/strategies/zeroshot/select.ts) → a bundle whose model is CL2N → Dense over all classes
 * (kernel T·V·Sᵀ, seen classes' bias −T·γ), so predict / eval / export treat it like any head.
 */
import fs from 'node:fs';
import path from 'node:path';
import { initTf } from '../engine/tfjs.js';
import { loadDataset } from '../data/index.js';
import type { Skipped } from '../data/types.js';
import { openBackboneSpec } from '../models/backbone.js';
import type { EngineName } from '../models/types.js';
import { saveBundle, type ZeroShotHeadSpec } from '../bundle/bundle.js';
import { centreL2Head } from '../train/centre-l2.js';
import { datasetFeatures } from './features.js';
import { runSpec } from './run.js';
import { normalisedRows, readClassCsv, readClassEmbeddings, seenIndex, type ClassTable } from '../strategies/zeroshot/attributes.js';
import { selectAndFit, type Regularisers, type ZslMethod, type ZslSelection } from '../strategies/zeroshot/select.js';
import { writeZeroShotReport } from '../report/zeroshot.js';
import { silentReporter, type Reporter } from '../util/log.js';

export interface ZeroShotOptions {
  seen: string;
  out: string;
  /** classes.csv, or embeddings + names. */
  classTable?: string;
  classEmbeddings?: string;
  classNames?: string;
  method?: ZslMethod;
  /** Fix a regulariser instead of choosing it. */
  gamma?: number;
  lambda?: number;
  folds?: number;
  seed?: number;
  backbone?: string;
  weights?: string;
  engine?: EngineName;
  threads?: number;
  strict?: boolean;
  limitPerClass?: number;
  reporter?: Reporter;
}

export interface ZeroShotResult {
  bundle: string;
  method: ZslMethod;
  labels: string[];
  seen: string[];
  unseen: string[];
  attributes: number;
  regularisers: Regularisers;
  /** Held-out seen classes: ZSL per-class mean accuracy at the chosen regularisers, and its chance level (mean 1/classes held out). */
  selection: { folds: string[][]; accuracy: number; chance: number };
  calibration: { gamma: number; s: number; u: number; h: number };
  temperature: number;
  data: { images: number; skipped: Skipped[] };
  features: { computed: number; cached: number; seconds: number };
  report: string;
  seconds: number;
}

export function readTable(o: Pick<ZeroShotOptions, 'classTable' | 'classEmbeddings' | 'classNames'>): ClassTable {
  if (o.classTable !== undefined) {
    if (o.classEmbeddings !== undefined || o.classNames !== undefined) throw new Error('give either --classes CSV or --class-embeddings NPY --class-names TXT, not both');
    return readClassCsv(o.classTable);
  }
  if (o.classEmbeddings === undefined || o.classNames === undefined) throw new Error('zeroshot needs the class descriptions: --classes classes.csv, or --class-embeddings emb.npy with --class-names names.txt');
  return readClassEmbeddings(o.classEmbeddings, o.classNames);
}

export async function zeroShotRecipe(o: ZeroShotOptions): Promise<ZeroShotResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  const method = o.method ?? 'eszsl';
  const table = readTable(o);
  await initTf();
  // Every image of --seen trains, unless it has its own test/ folder (kept out, for graft eval --gzsl).
  const ds = await loadDataset(o.seen, { valPercent: 0, testPercent: 0, strict: o.strict, limitPerClass: o.limitPerClass });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const seenIdx = seenIndex(table, ds.labels, o.seen);
  const unseen = table.names.filter((nm) => !ds.labels.includes(nm));
  if (unseen.length === 0) reporter.warn(`${table.source}: every class has images in ${o.seen}; there are no unseen classes`);
  const backbone = await openBackboneSpec(await runSpec(o), { engine: o.engine, threads: o.threads, weights: o.weights });
  try {
    const tf0 = performance.now();
    const feats = await datasetFeatures(ds, backbone, { reporter, strict: o.strict });
    const featureSeconds = (performance.now() - tf0) / 1000;
    const rowsIdx = feats.samples.map((s, i) => (s.split === 'test' ? -1 : i)).filter((i) => i >= 0);
    const { dim: d } = feats;
    const x = new Float32Array(rowsIdx.length * d);
    rowsIdx.forEach((i, r) => x.set(feats.data.subarray(i * d, (i + 1) * d), r * d));
    const y = Int32Array.from(rowsIdx, (i) => feats.samples[i].label);
    const sAll = normalisedRows(table);
    const a = table.dim;
    const sSeen = new Float64Array(ds.labels.length * a);
    seenIdx.forEach((t, c) => sSeen.set(sAll.subarray(t * a, (t + 1) * a), c * a));
    reporter.info(`${method}: ${rowsIdx.length} images of ${ds.labels.length} seen classes, ${unseen.length} unseen, ${a} attributes; choosing regularisers on held-out seen classes`);
    const fit = await selectAndFit(method, { x, n: rowsIdx.length, d, y, s: sSeen, zs: ds.labels.length, a }, { gamma: o.gamma, lambda: o.lambda, folds: o.folds, seed: o.seed });
    const sel = fit.selection as ZslSelection;
    reporter.info(`  chosen ${JSON.stringify(sel.regularisers)}: held-out seen classes ${(100 * sel.accuracy).toFixed(2)}%; stacking γ ${sel.calibration.gamma.toPrecision(3)} (fold H ${(100 * sel.calibration.h).toFixed(2)}%), temperature ${sel.temperature.toPrecision(3)}`);
    // Bundle model: CL2N → Dense, kernel T·V·Sᵀ over every class of the table, bias −T·γ on seen classes.
    const z = table.names.length;
    const T = sel.temperature;
    const kernel = new Float32Array(d * z);
    for (let i = 0; i < d; i++) {
      for (let c = 0; c < z; c++) {
        let v = 0;
        for (let j = 0; j < a; j++) v += fit.v[i * a + j] * sAll[c * a + j];
        kernel[i * z + c] = T * v;
      }
    }
    const isSeen = table.names.map((nm) => ds.labels.includes(nm));
    const bias = Float32Array.from(isSeen, (s) => (s ? -T * sel.calibration.gamma : 0));
    const head = centreL2Head(fit.mean, kernel, bias, 'zeroshot_head');
    const regs = sel.regularisers as unknown as Record<string, number>;
    const spec: ZeroShotHeadSpec = { kind: 'zeroshot', method, inputDim: d, numClasses: z, seen: ds.labels, temperature: T, calibration: sel.calibration.gamma, regularisers: regs, attributes: a };
    const folds = sel.folds.map((g) => g.map((c) => ds.labels[c]));
    const chance = sel.folds.reduce((s, g) => s + 1 / g.length, 0) / sel.folds.length;
    try {
      await saveBundle(
        o.out,
        {
          labels: table.names,
          backbone: { name: backbone.spec.name, weightsHash: backbone.weightsHash, layer: backbone.layer, dim: backbone.dim, ...(o.weights ? { weights: o.weights } : {}) },
          preprocess: backbone.spec.preprocess,
          head: spec,
          metrics: { heldOutSeen: { accuracy: sel.accuracy, chance }, foldGzsl: { s: sel.calibration.s, u: sel.calibration.u, h: sel.calibration.h } },
          training: { recipe: 'zeroshot', seen: path.resolve(o.seen), classes: path.resolve(table.source), method, folds, grid: sel.grid, seed: o.seed ?? 0 },
        },
        head,
      );
    } finally {
      head.dispose();
    }
    const counts = new Map<number, number>();
    for (const c of y) counts.set(c, (counts.get(c) ?? 0) + 1);
    const report = await writeZeroShotReport(o.out, {
      title: `graft zeroshot: ${o.seen}`,
      summary: {
        seen: `${path.resolve(o.seen)} (${ds.labels.length} classes, ${rowsIdx.length} images)`,
        'class descriptions': `${path.resolve(table.source)} (${z} classes, ${a} attributes)`,
        unseen: unseen.join(', ') || 'none',
        method,
        backbone: `${backbone.spec.name} (${backbone.layer}, ${d}-d)`,
        regularisers: JSON.stringify(sel.regularisers),
        'held-out seen classes (ZSL accuracy, chance)': `${(100 * sel.accuracy).toFixed(2)}% (chance ${(100 * chance).toFixed(2)}%)`,
        'calibrated stacking γ': sel.calibration.gamma,
        temperature: T,
      },
      selection: sel,
      classes: table.names.map((nm, c) => ({ name: nm, seen: isSeen[c], images: isSeen[c] ? counts.get(ds.labels.indexOf(nm)) ?? 0 : 0 })),
    });
    return {
      bundle: o.out,
      method,
      labels: table.names,
      seen: ds.labels,
      unseen,
      attributes: a,
      regularisers: sel.regularisers,
      selection: { folds, accuracy: sel.accuracy, chance },
      calibration: { gamma: sel.calibration.gamma, s: sel.calibration.s, u: sel.calibration.u, h: sel.calibration.h },
      temperature: T,
      data: { images: rowsIdx.length, skipped: [...ds.skipped, ...feats.skipped] },
      features: { computed: feats.computed, cached: feats.cached, seconds: featureSeconds },
      report: fs.existsSync(report.html) ? report.html : '',
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await backbone.dispose();
  }
}
