/**
 * Prototype heads as bundles: `graft train --head prototype` (nearest class mean on CL2N features,
 * src/strategies/fewshot/prototype.ts) and `graft add-class BUNDLE DIR`, which adds a class — or
 * more images of a known class — from a folder, recomputing the centring mean and every prototype
 * from the support rows kept in the bundle: exactly the model that training with those images from
 * the start gives, with no optimisation anywhere. The bundle is replaced atomically.
 */
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readBundleFile, readBundleMeta, saveBundle, type BundleMeta, type PrototypeHeadSpec } from '../bundle/bundle.js';
import { loadDataset } from '../data/index.js';
import { extractFeatures } from '../features/extract.js';
import { centreL2Head } from '../train/centre-l2.js';
import { fitTemperature } from '../train/temperature.js';
import type { Examples } from '../train/trainer.js';
import { prototypeDense, prototypes, prototypeScores } from '../strategies/fewshot/prototype.js';
import { decodeNpy, encodeNpy } from '../util/npy.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { Classifier } from './predict.js';

export const SUPPORT_FILE = 'support.npy';
/** Temperature when there is too little validation data to fit one. */
export const DEFAULT_TEMPERATURE = 10;
const T_RANGE: [number, number] = [1, 100];

export interface PrototypeFit {
  head: tfl.LayersModel;
  spec: PrototypeHeadSpec;
  files: Record<string, Uint8Array>;
}

/** Support rows regrouped by class (label order), as the bundle stores them. */
function groupByClass(x: Float32Array, y: ArrayLike<number>, n: number, dim: number, k: number): { x: Float32Array; y: Int32Array; counts: number[] } {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => y[a] - y[b] || a - b);
  const gx = new Float32Array(n * dim);
  order.forEach((i, r) => gx.set(x.subarray(i * dim, (i + 1) * dim), r * dim));
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) counts[y[i]]++;
  return { x: gx, y: Int32Array.from(order, (i) => y[i]), counts };
}

/** Build the CL2N → Dense head and the bundle's support file from grouped rows. */
function assemble(x: Float32Array, y: Int32Array, counts: number[], dim: number, temperature: number, temperatureFrom: PrototypeHeadSpec['temperatureFrom']): PrototypeFit {
  const k = counts.length;
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) throw new Error(`class ${empty} has no support images`);
  const p = prototypes(x, y, y.length, dim, k);
  const { kernel, bias } = prototypeDense(p, temperature);
  const head = centreL2Head(p.mean, kernel, bias, 'prototype_head');
  const spec: PrototypeHeadSpec = { kind: 'prototype', inputDim: dim, numClasses: k, temperature, temperatureFrom, counts, support: SUPPORT_FILE };
  return { head, spec, files: { [SUPPORT_FILE]: encodeNpy(x, [y.length, dim]) } };
}

/**
 * Prototype head on the train rows. The temperature is fitted on the validation rows when there
 * are at least as many as classes (clamped to [1, 100]), else `temperature` or 10.
 */
export function fitPrototypeHead(train: Examples, val: Examples, k: number, o: { temperature?: number } = {}): PrototypeFit {
  const g = groupByClass(train.x, train.y, train.n, train.dim, k);
  const missing = g.counts.findIndex((c) => c === 0);
  if (missing >= 0) throw new Error(`class ${missing} has no training images after the split (lower --val-percent/--test-percent or add images)`);
  let t = o.temperature ?? DEFAULT_TEMPERATURE;
  let from: PrototypeHeadSpec['temperatureFrom'] = o.temperature !== undefined ? 'given' : 'default';
  if (o.temperature === undefined && val.n >= k) {
    const p = prototypes(g.x, g.y, train.n, train.dim, k);
    t = fitTemperature(prototypeScores(p, val.x, val.n), val.y, k, ...T_RANGE);
    from = 'val';
  }
  return assemble(g.x, g.y, g.counts, train.dim, t, from);
}

export interface AddClassOptions {
  /** Class name when DIR is one class (default: the folder's name). */
  name?: string;
  /** Write the result here instead of replacing BUNDLE. */
  out?: string;
  strict?: boolean;
  reporter?: Reporter;
}

export interface AddClassResult {
  bundle: string;
  labels: string[];
  added: { label: string; images: number }[];
  updated: { label: string; images: number; before: number }[];
  /** Support images per class after the change. */
  counts: Record<string, number>;
  skipped: { file: string; reason: string }[];
  seconds: number;
}

/** Add the classes of `dir` to a prototype bundle, or extend the prototypes of classes it has. */
export async function addClass(bundle: string, dir: string, o: AddClassOptions = {}): Promise<AddClassResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  const meta = readBundleMeta(bundle);
  const spec = meta.head as PrototypeHeadSpec;
  if (spec.kind !== 'prototype') throw new Error(`${bundle}: has a ${meta.head.kind} head; add-class needs a prototype head (graft train --head prototype)`);
  const ds = await loadDataset(dir, { unlabelled: true, valPercent: 0, testPercent: 0, strict: o.strict });
  if (o.name !== undefined && ds.labels.length !== 1) throw new Error(`--name: ${dir} holds ${ds.labels.length} classes (${ds.labels.join(', ')}); --name needs a single class`);
  const names = o.name !== undefined ? [o.name] : ds.labels;
  const clf = await Classifier.load(bundle);
  let feats;
  try {
    feats = await extractFeatures(ds.samples, clf.backbone, { reporter, strict: o.strict });
  } finally {
    await clf.dispose();
  }
  const { dim } = feats;
  if (dim !== spec.inputDim) throw new Error(`${bundle}: head takes ${spec.inputDim}-d features, the backbone gave ${dim}`);
  const old = decodeNpy(readBundleFile(bundle, meta, spec.support), path.join(bundle, spec.support)).data as Float32Array;
  const labels = [...meta.labels];
  const fresh = names.map(() => [] as number[]);
  feats.samples.forEach((s, i) => fresh[s.label].push(i));
  names.forEach((nm, c) => {
    if (fresh[c].length === 0) throw new Error(`${dir}: no readable images for class "${nm}"`);
    if (!labels.includes(nm)) labels.push(nm);
  });
  // Old rows of each class, then its new rows, classes in label order.
  const counts = labels.map((l, c) => (c < spec.counts.length ? spec.counts[c] : 0) + (names.includes(l) ? fresh[names.indexOf(l)].length : 0));
  const total = counts.reduce((a, b) => a + b, 0);
  const x = new Float32Array(total * dim);
  const y = new Int32Array(total);
  let r = 0;
  let src = 0;
  labels.forEach((l, c) => {
    const before = c < spec.counts.length ? spec.counts[c] : 0;
    x.set(old.subarray(src * dim, (src + before) * dim), r * dim);
    src += before;
    const add = names.includes(l) ? fresh[names.indexOf(l)] : [];
    add.forEach((i, j) => x.set(feats.data.subarray(i * dim, (i + 1) * dim), (r + before + j) * dim));
    y.fill(c, r, r + before + add.length);
    r += before + add.length;
  });
  const fit = assemble(x, y, counts, dim, spec.temperature, spec.temperatureFrom);
  const added = names.filter((l) => !meta.labels.includes(l)).map((l) => ({ label: l, images: fresh[names.indexOf(l)].length }));
  const updated = names.filter((l) => meta.labels.includes(l)).map((l) => ({ label: l, images: fresh[names.indexOf(l)].length, before: spec.counts[meta.labels.indexOf(l)] }));
  const out = o.out ?? bundle;
  try {
    const { format: _f, formatVersion: _v, createdBy: _c, created: _d, files: _fl, ...rest } = meta;
    const history = [...((meta.training.addClass as unknown[]) ?? []), { from: path.resolve(dir), added, updated, at: new Date().toISOString() }];
    const next: Omit<BundleMeta, 'format' | 'formatVersion' | 'createdBy' | 'created' | 'files'> = {
      ...rest,
      labels,
      head: fit.spec,
      // The old metrics described other classes: graft eval measures the new model.
      metrics: {},
      training: { ...meta.training, addClass: history },
    };
    const embed = meta.backbone.from ? { name: meta.backbone.from, source: path.join(bundle, meta.backbone.from) } : undefined;
    await saveBundle(out, next, fit.head, { files: fit.files, ...(embed ? { embed } : {}) });
  } finally {
    fit.head.dispose();
  }
  return {
    bundle: out,
    labels,
    added,
    updated,
    counts: Object.fromEntries(labels.map((l, c) => [l, counts[c]])),
    skipped: [...ds.skipped, ...feats.skipped],
    seconds: (performance.now() - t0) / 1000,
  };
}
