/**
 * `graft compare DATA`: the transfer-vs-scratch study. For each label budget (images per class)
 * and each method — a small CNN trained from scratch, a linear head on frozen pretrained features,
 * a fine-tuned tail — train on `budget` labelled images per class of the train split (model
 * selection on at most `budget` per class of the validation split), score on the whole test split,
 * and repeat over seeds. Every finished run is written to `compare.json` at once (atomic), so a
 * failure later keeps what finished, and a rerun with the same settings skips it.
 *
 * Time per run = training wall time + the measured per-image cost of producing that method's
 * inputs (backbone forward pass to the features or the cut, or pixel decoding) for the images it
 * used. Inputs are computed once through the feature store and shared by every budget and seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from '../engine/tfjs.js';
import { disposeSnapshot, restoreWeights, snapshotWeights } from '../models/tail.js';
import { loadDataset } from '../data/index.js';
import type { Dataset, LoadOptions, Sample } from '../data/types.js';
import { openBackboneSpec } from '../models/backbone.js';
import { openPixels } from '../models/pixels.js';
import { smallCnn } from '../models/small-cnn.js';
import type { Backbone, EngineName } from '../models/types.js';
import { extractFeatures } from '../features/extract.js';
import { Trainer, type Examples } from '../train/trainer.js';
import { rng, shuffle } from '../util/rng.js';
import { writeFileAtomic } from '../util/fs.js';
import { writeCompareReport } from '../report/compare.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { datasetFeatures, splitRows, type SplitExamples } from './features.js';
import { fitHead } from './train.js';
import { runSpec } from './run.js';
import { fitTailModel, resolveCut } from './tail-fit.js';

export type CompareMethod = 'scratch' | 'linear' | 'finetune';
export const COMPARE_METHODS: readonly CompareMethod[] = ['scratch', 'linear', 'finetune'];

export interface CompareOptions extends LoadOptions {
  data: string;
  /** Output folder: compare.json, report.html and PNG plots. */
  out: string;
  /** Images per class; 'all' = the whole train split (default 5,10,25,50,100,all). */
  budgets?: (number | 'all')[];
  /** Seeds per point (default 3). */
  repeats?: number;
  methods?: CompareMethod[];
  backbone?: string;
  weights?: string;
  /** Pretrained network from a bundle instead of `backbone` (see RunOptions.from). */
  from?: string;
  /** Blocks the fine-tuned method unfreezes (default 1). */
  unfreeze?: number;
  /** Pixel input size of the scratch CNN (default 32). */
  scratchSize?: number;
  seed?: number;
  engine?: EngineName;
  threads?: number;
  reporter?: Reporter;
}

export interface CompareRun {
  method: CompareMethod;
  budget: number | 'all';
  seed: number;
  /** Labelled images actually used (train + val). */
  images: { train: number; val: number };
  accuracy: number;
  seconds: number;
  trainSeconds: number;
}

export interface ComparePoint {
  method: CompareMethod;
  /** Images per class (for 'all': the largest class's train count). */
  budget: number;
  label: string;
  accuracy: number;
  std: number;
  seconds: number;
  secondsStd: number;
  repeats: number;
}

export interface CompareResult {
  /** report.html (written when the report module is available). */
  report: string;
  json: string;
  points: ComparePoint[];
  runs: CompareRun[];
  test: number;
  seconds: number;
}

/** A method's inputs for every image, grouped by split, plus what producing one input costs. */
interface Inputs {
  rows: SplitExamples;
  perImageSeconds: number;
  /** Builds and trains a model on (train, val); returns a model from rows to logits. */
  fit(train: Examples, val: Examples, seed: number): Promise<tfl.LayersModel>;
  dispose(): Promise<void>;
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const sd = (a: number[]) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)));

/** Rows of `ex` restricted to at most `budget` per class, chosen by `seed` (same seed → same images). */
export function subsample(ex: Examples, budget: number | 'all', seed: number): Examples {
  if (budget === 'all') return ex;
  const byClass = new Map<number, number[]>();
  ex.y.forEach((c, i) => byClass.set(c, [...(byClass.get(c) ?? []), i]));
  const r = rng(seed);
  const pick: number[] = [];
  for (const [, idx] of [...byClass].sort((a, b) => a[0] - b[0])) {
    shuffle(idx, r);
    pick.push(...idx.slice(0, budget));
  }
  pick.sort((a, b) => a - b);
  const x = new Float32Array(pick.length * ex.dim);
  pick.forEach((i, k) => x.set(ex.x.subarray(i * ex.dim, (i + 1) * ex.dim), k * ex.dim));
  return { x, y: Int32Array.from(pick, (i) => ex.y[i]), n: pick.length, dim: ex.dim };
}

/** Per-class train counts; a numeric budget above the smallest is an error naming the class. */
export function checkBudgets(ds: Dataset, budgets: (number | 'all')[]): number[] {
  const counts = ds.labels.map(() => 0);
  for (const s of ds.samples) if (s.split === 'train') counts[s.label]++;
  const min = Math.min(...counts);
  for (const b of budgets) {
    if (b === 'all') continue;
    if (!Number.isInteger(b) || b < 1) throw new Error(`budget "${b}" is not a positive integer (images per class) or "all"`);
    if (b > min) {
      const c = counts.indexOf(min);
      throw new Error(`budget ${b} images per class exceeds the data: class "${ds.labels[c]}" has ${min} training images in ${ds.root} (train split); use budgets ≤ ${min} or "all"`);
    }
  }
  return counts;
}

/** Seconds per image to produce a backbone's input for one more (uncached) image. */
async function perImageCost(samples: Sample[], backbone: Backbone): Promise<number> {
  await extractFeatures(samples.slice(0, 4), backbone, { store: null }); // warm-up: first-run allocations are not a per-image cost
  const probe = samples.slice(0, 32);
  const t = performance.now();
  await extractFeatures(probe, backbone, { store: null });
  return (performance.now() - t) / 1000 / Math.max(1, probe.length);
}

async function openInputs(method: CompareMethod, ds: Dataset, o: CompareOptions, reporter: Reporter): Promise<Inputs> {
  const k = ds.labels.length;
  const spec = await runSpec(o);
  let backbone: Backbone;
  let fit: Inputs['fit'];
  let release = async () => {};
  if (method === 'scratch') {
    const size = o.scratchSize ?? 32;
    backbone = openPixels(size);
    fit = async (train, val, seed) => {
      const model = smallCnn({ size, numClasses: k, seed });
      const steps = Math.ceil(train.n / 32);
      // At least ~300 optimiser steps, at most 60 epochs: small budgets get more passes.
      const epochs = Math.min(60, Math.max(10, Math.ceil(300 / steps)));
      await new Trainer(model, { optimizer: 'adamw', lr: 3e-3, weightDecay: 1e-4, schedule: 'onecycle', epochs, batchSize: 32, patience: Math.max(5, Math.ceil(epochs / 4)), restoreBest: val.n > 0, seed }).fit(train, val.n ? val : undefined);
      return model;
    };
  } else if (method === 'linear') {
    backbone = await openBackboneSpec(spec, { engine: o.engine, threads: o.threads, weights: o.weights });
    fit = async (train, val, seed) => (await fitHead(train, val, k, { seed })).head;
  } else {
    const { cut } = resolveCut(spec, { unfreeze: o.unfreeze ?? 1 });
    backbone = await openBackboneSpec(spec, { engine: o.engine, threads: o.threads, weights: o.weights, layer: cut });
    const { model: full } = await spec.load({ weights: o.weights });
    // The tail shares its layers with `full`: every run starts again from the pretrained weights.
    const pretrained = snapshotWeights(full);
    release = async () => {
      full.dispose();
      disposeSnapshot(pretrained);
    };
    fit = async (train, val, seed) => {
      restoreWeights(full, pretrained);
      // Like the scratch CNN, small budgets get more passes: at least ~60 head-only and ~120
      // unfrozen optimiser steps (a 5-per-class budget is 2 batches per epoch).
      const steps = Math.ceil(train.n / 32);
      const freezeEpochs = Math.min(30, Math.max(2, Math.ceil(60 / steps)));
      const epochs = Math.min(30, Math.max(4, Math.ceil(120 / steps)));
      return (await fitTailModel(spec, full, cut, train, val, k, { seed, freezeEpochs, epochs, patience: Math.max(3, Math.ceil(epochs / 4)) })).model;
    };
  }
  try {
    reporter.info(`${method}: inputs from ${backbone.spec.name} (${backbone.layer}, ${backbone.dim} values per image)`);
    const m = await datasetFeatures(ds, backbone, { reporter });
    const rows = splitRows(m, { release: true });
    const perImageSeconds = await perImageCost(rows.samples.train, backbone);
    return { rows, perImageSeconds, fit, dispose: async () => (await backbone.dispose(), await release()) };
  } catch (e) {
    await backbone.dispose();
    await release();
    throw e;
  }
}

function aggregate(runs: CompareRun[], counts: number[]): ComparePoint[] {
  const groups = new Map<string, CompareRun[]>();
  for (const r of runs) groups.set(`${r.method}|${r.budget}`, [...(groups.get(`${r.method}|${r.budget}`) ?? []), r]);
  return [...groups.values()].map((g) => ({
    method: g[0].method,
    budget: g[0].budget === 'all' ? Math.max(...counts) : g[0].budget,
    label: String(g[0].budget),
    accuracy: mean(g.map((r) => r.accuracy)),
    std: sd(g.map((r) => r.accuracy)),
    seconds: mean(g.map((r) => r.seconds)),
    secondsStd: sd(g.map((r) => r.seconds)),
    repeats: g.length,
  }));
}

export async function compareRecipe(o: CompareOptions): Promise<CompareResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  await initTf();
  const budgets = o.budgets ?? [5, 10, 25, 50, 100, 'all'];
  const methods = o.methods ?? [...COMPARE_METHODS];
  const repeats = o.repeats ?? 3;
  const seed0 = o.seed ?? 0;
  const ds = await loadDataset(o.data, o);
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const counts = checkBudgets(ds, budgets);
  const jsonFile = path.join(o.out, 'compare.json');
  const settings = { schedules: 'v2', data: path.resolve(o.data), labels: ds.labels, backbone: (await runSpec(o)).name, unfreeze: o.unfreeze ?? 1, scratchSize: o.scratchSize ?? 32, valPercent: o.valPercent ?? 10, testPercent: o.testPercent ?? 10, limitPerClass: o.limitPerClass ?? null, ...(ds.audio ? { audio: ds.audio } : {}) };
  // Runs of an earlier, interrupted compare with the same settings are kept and skipped.
  let runs: CompareRun[] = [];
  if (fs.existsSync(jsonFile)) {
    try {
      const prev = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { settings: unknown; runs: CompareRun[] };
      if (JSON.stringify(prev.settings) === JSON.stringify(settings)) runs = prev.runs;
    } catch {
      reporter.warn(`${jsonFile}: unreadable, starting over`);
    }
  }
  const save = () => writeFileAtomic(jsonFile, JSON.stringify({ settings, points: aggregate(runs, counts), runs }, null, 2) + '\n');
  const done = (m: CompareMethod, b: number | 'all', seed: number) => runs.some((r) => r.method === m && r.budget === b && r.seed === seed);
  let testN = ds.samples.filter((x) => x.split === 'test').length;
  const total = methods.length * budgets.length * repeats;
  const bar = reporter.progress('compare runs', total);
  /** Points of this study's grid (compare.json may also hold runs of other budgets or methods). */
  const gridPoints = () => aggregate(runs.filter((r) => methods.includes(r.method) && budgets.includes(r.budget)), counts);
  const report = async () => {
    const pts = gridPoints();
    if (!pts.length) return undefined;
    const summary = {
      data: path.resolve(o.data),
      classes: ds.labels.length,
      'train images per class (min–max)': `${Math.min(...counts)}–${Math.max(...counts)}`,
      'test images (every run is scored on all of them)': testN,
      backbone: settings.backbone,
      'fine-tuned blocks': settings.unfreeze,
      'scratch CNN input': `${settings.scratchSize}×${settings.scratchSize}`,
      repeats,
      'time per run': 'training wall time + measured per-image cost of the inputs it used',
    };
    return (await writeCompareReport(o.out, { title: `graft compare: ${o.data}`, summary, points: pts })).html;
  };
  const runAll = async () => {
    for (const method of methods) {
      if (budgets.every((b) => Array.from({ length: repeats }, (_, r) => done(method, b, seed0 + r)).every(Boolean))) {
        for (let i = 0; i < budgets.length * repeats; i++) bar.tick();
        continue;
      }
      const inputs = await openInputs(method, ds, o, reporter);
      try {
        const { train, val, test } = inputs.rows;
        testN = test.n;
        if (test.n === 0) throw new Error(`${o.data}: the test split is empty; compare scores every run on it (raise --test-percent)`);
        for (const budget of budgets) {
          for (let r = 0; r < repeats; r++) {
            const seed = seed0 + r;
            if (done(method, budget, seed)) {
              bar.tick();
              continue;
            }
            const tr = subsample(train, budget, seed);
            const va = subsample(val, budget, seed + 1000);
            const t = performance.now();
            const model = await inputs.fit(tr, va, seed);
            const trainSeconds = (performance.now() - t) / 1000;
            const accuracy = new Trainer(model, {}).evaluate(test).accuracy;
            model.dispose();
            const seconds = trainSeconds + (tr.n + va.n) * inputs.perImageSeconds;
            runs.push({ method, budget, seed, images: { train: tr.n, val: va.n }, accuracy, seconds, trainSeconds });
            save();
            bar.tick();
            reporter.info(`  ${method} budget ${budget} seed ${seed}: test ${(100 * accuracy).toFixed(2)}% in ${seconds.toFixed(1)} s`);
          }
        }
      } finally {
        await inputs.dispose();
      }
    }
  };
  try {
    await runAll();
  } catch (e) {
    // Keep what finished: compare.json is already saved run by run; the report shows those runs.
    await report().catch(() => undefined);
    throw e;
  }
  bar.done();
  save();
  const html = await report();
  const points = gridPoints();
  return { report: html ?? '', json: jsonFile, points, runs, test: testN, seconds: (performance.now() - t0) / 1000 };
}
