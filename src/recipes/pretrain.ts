/**
 * `graft pretrain`: self-supervised adaptation of a backbone's last blocks to unlabelled images
 * (the seed's §5.3, unsupervised transfer). The frozen prefix runs once per augmented view up to
 * the cut (cut-point caching, as `finetune`); the tail from the cut is trained by the one Trainer
 * on a self-supervised objective (src/strategies/pretrain/objectives.ts: SimCLR's NT-Xent over
 * pairs of views, or rotation prediction) with no labels at all.
 *
 * The result is an ordinary tail bundle: prefix + adapted tail + a Dense layer. Its classes are
 * the k-means clusters of the adapted features (nearest centroid: kernel 2c, bias −‖c‖²), so
 * `predict`/`eval`/`export` work on it, and `--from` drops that layer and uses the adapted network
 * as a backbone (`train`, `finetune`, `compare`, `fewshot`, `cluster`).
 *
 * When the folder has label folders, they are never used for training; they only score the
 * representation before and after: k-means NMI against the folders, and a few-label linear probe
 * (`probe` shots per class, seeded draws, the other images as queries — transductive, since those
 * images were seen unlabelled).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initTf, tf } from '../engine/tfjs.js';
import { saveBundle, type TailHeadSpec } from '../bundle/bundle.js';
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Skipped } from '../data/types.js';
import { checkView, PIXEL_VIEWS, type AugmentView } from '../data/augment.js';
import { openBackboneSpec } from '../models/backbone.js';
import { EMBEDDED_FROM } from '../models/bundle-backbone.js';
import type { EngineName } from '../models/types.js';
import { clusterFolderName, clusterRows, scoreAgainstLabels } from '../strategies/cluster/index.js';
import { rotationClasses, rotationObjective, simclrObjective } from '../strategies/pretrain/objectives.js';
import { fewLabelProbe, type ProbeResult } from '../strategies/pretrain/probe.js';
import { augmentedSource, type AugmentedSource } from '../train/augment-source.js';
import { EVAL_EPOCH, evalBatchSize, range, type BatchSource } from '../train/source.js';
import { Trainer, type EpochLogs } from '../train/trainer.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { prepareCheckpointDir } from './finetune.js';
import { resolveCut, tailFeatures } from './tail-fit.js';
import { runSpec } from './run.js';

export const PRETRAIN_METHODS = ['simclr', 'rotation'] as const;
export type PretrainMethod = (typeof PRETRAIN_METHODS)[number];

/** SimCLR's default views: the plain image, its four corner crops and the centre zoom, two colour jitters (no flips: digits and text change under them). */
export const SIMCLR_VIEWS: readonly AugmentView[] = ['none', 'crop-tl', 'crop-br', 'crop-tr', 'crop-bl', 'crop-c', 'jitter-a', 'jitter-b'];
export const ROTATION_VIEWS: readonly AugmentView[] = ['none', 'rot90', 'rot180', 'rot270'];

export interface PretrainOptions extends Pick<LoadOptions, 'classes' | 'limitPerClass' | 'strict'> {
  data: string;
  /** The bundle written (use it with `--from`). */
  out: string;
  method?: PretrainMethod;
  backbone?: string;
  weights?: string;
  from?: string;
  engine?: EngineName;
  threads?: number;
  /** Adapt the last K blocks (default 2), or from an explicit cut point. */
  unfreeze?: number;
  cut?: string;
  /** Views the pairs (SimCLR) or rotations are drawn from (defaults: SIMCLR_VIEWS / ROTATION_VIEWS). */
  views?: readonly string[];
  epochs?: number;
  batchSize?: number;
  /** Peak learning rate of AdamW's one-cycle schedule (default 1e-3). */
  lr?: number;
  weightDecay?: number;
  /** NT-Xent temperature (default 0.2). */
  temperature?: number;
  /** Let the tail's BatchNorm use and update batch statistics (default false: frozen). */
  trainBn?: boolean;
  /** Clusters behind the bundle's Dense layer (default 'auto': best silhouette over 2..20). */
  k?: number | 'auto';
  /** Shots per class of the before/after linear probe when the folder has labels (default [5, 20]; [] = none). */
  probe?: number[];
  /** Seeded draws per probe (default 5). */
  draws?: number;
  seed?: number;
  /** Also write report.html + plots to this folder. */
  report?: string;
  /** Checkpoint directory (default `<out>.ckpt`), false: none. */
  checkpoint?: string | false;
  resume?: boolean;
  reporter?: Reporter;
}

export interface PretrainResult {
  bundle: string;
  method: PretrainMethod;
  backbone: { name: string; cut: string; blocks: number; dim: number; engine: EngineName };
  views: AugmentView[];
  images: number;
  skipped: Skipped[];
  features: { computed: number; cached: number };
  history: EpochLogs[];
  trainableParams: number;
  /** The bundle's class (nearest centroid of the adapted features) of every image, as `predict` gives it. */
  assignments: { file: string; cluster: number }[];
  /** The clusters behind the bundle's classes (NMI against label folders when there are any). */
  clusters: { k: number; silhouette: number; sizes: number[]; nmiBefore: number | null; nmiAfter: number | null };
  /** Label folders only: the few-label linear probe on the features before and after. */
  probes: { shots: number; before: ProbeResult; after: ProbeResult; transductive: true }[];
  resumedEpochs: number;
  seconds: { features: number; train: number; total: number };
  report?: string;
}

/** The representation's rows (plain view) for every example of the source. */
async function representRows(rep: tfl.LayersModel, src: BatchSource, outDim: number): Promise<Float32Array> {
  const out = new Float32Array(src.n * outDim);
  const bs = evalBatchSize(src.dim, 16);
  for (let s = 0; s < src.n; s += bs) {
    const m = Math.min(bs, src.n - s);
    const x = await src.rows(range(s, m), EVAL_EPOCH);
    const h = tf.tidy(() => rep.apply(tf.tensor2d(x, [m, src.dim]), { training: false }) as tf.Tensor2D);
    out.set(h.dataSync() as Float32Array, s * outDim);
    h.dispose();
  }
  return out;
}

/** argmax of x·kernel + bias per row (the bundle's class of each row). */
export function denseArgmax(x: Float32Array, n: number, d: number, kernel: Float32Array, bias: Float32Array): Int32Array {
  const k = bias.length;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let c = 0; c < k; c++) {
      let z = bias[c]!;
      for (let j = 0; j < d; j++) z += x[i * d + j]! * kernel[j * k + c]!;
      if (z > best) [best, out[i]] = [z, c];
    }
  }
  return out;
}

/** Nearest-centroid Dense weights for clusters of `x`: logits 2x·c − ‖c‖² rank centroids as −‖x − c‖² does. */
export function centroidDense(x: Float32Array, n: number, d: number, labels: Int32Array, k: number): { kernel: Float32Array; bias: Float32Array } {
  const sum = new Float64Array(k * d);
  const count = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    count[c]++;
    for (let j = 0; j < d; j++) sum[c * d + j] += x[i * d + j]!;
  }
  const kernel = new Float32Array(d * k);
  const bias = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let sq = 0;
    for (let j = 0; j < d; j++) {
      const m = sum[c * d + j]! / Math.max(1, count[c]!);
      kernel[j * k + c] = 2 * m;
      sq += m * m;
    }
    bias[c] = -sq;
  }
  return { kernel, bias };
}

function resolveViews(o: PretrainOptions, method: PretrainMethod, square: boolean): AugmentView[] {
  const views = (o.views ?? (method === 'simclr' ? SIMCLR_VIEWS : ROTATION_VIEWS)).map((v) => checkView(v));
  if (!square && views.some((v) => v === 'rot90' || v === 'rot270')) throw new Error('rotation views need a square network input; this backbone is not square');
  if (method === 'rotation') rotationClasses(views);
  if (method === 'simclr' && views.length < 2) throw new Error(`SimCLR pairs two different views of each image: give at least 2 views (got ${views.join(', ')})`);
  return views;
}

function checkOptions(o: PretrainOptions): PretrainMethod {
  const method = o.method ?? 'simclr';
  if (!PRETRAIN_METHODS.includes(method)) throw new Error(`--method must be one of ${PRETRAIN_METHODS.join(', ')}, got ${method}`);
  if (o.k !== undefined && o.k !== 'auto' && !(Number.isInteger(o.k) && o.k >= 2)) throw new Error(`--k must be auto or an integer ≥ 2, got ${o.k}`);
  for (const s of o.probe ?? []) if (!(Number.isInteger(s) && s >= 1)) throw new Error(`--probe takes shots per class ≥ 1, got ${s}`);
  const rel = path.relative(path.resolve(o.data), path.resolve(o.out));
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) throw new Error(`--out ${o.out} is inside ${o.data}: pick a folder outside the images`);
  return method;
}

/** Before/after scores of the representation against the label folders (never used for training). */
async function scoreRepresentation(before: Float32Array, after: Float32Array, y: Int32Array, dim: number, k: number, o: PretrainOptions, reporter: Reporter) {
  const n = y.length;
  const probes: PretrainResult['probes'] = [];
  const counts = new Array<number>(k).fill(0);
  for (const c of y) counts[c]++;
  for (const shots of o.probe ?? [5, 20]) {
    if (Math.min(...counts) <= shots) {
      reporter.warn(`probe ${shots}-shot skipped: a class has only ${Math.min(...counts)} images`);
      continue;
    }
    const opts = { draws: o.draws ?? 5, seed: o.seed ?? 0 };
    const b = await fewLabelProbe({ x: before, y, n, dim }, null, k, shots, opts);
    const a = await fewLabelProbe({ x: after, y, n, dim }, null, k, shots, opts);
    reporter.info(`probe ${shots} per class: ${(100 * b.accuracy).toFixed(2)}% before → ${(100 * a.accuracy).toFixed(2)}% after (± ${(100 * a.std).toFixed(2)}, ${opts.draws} draws)`);
    probes.push({ shots, before: b, after: a, transductive: true });
  }
  const kmeansNmi = (x: Float32Array) => scoreAgainstLabels(y, clusterRows(x, n, dim, { k, seed: o.seed }).labels, k).nmi;
  return { probes, nmiBefore: kmeansNmi(before), nmiAfter: kmeansNmi(after) };
}

/** Train the representation `rep` on the self-supervised objective (checkpointed, resumable). */
async function trainTail(
  rep: tfl.LayersModel,
  src: AugmentedSource,
  outDim: number,
  method: PretrainMethod,
  views: AugmentView[],
  o: PretrainOptions & { cut: string; weightsHash: string; spec: string },
  reporter: Reporter,
) {
  const cut = o.cut;
  const objective = method === 'simclr' ? simclrObjective({ source: src, dim: outDim, temperature: o.temperature, seed: o.seed }) : rotationObjective({ source: src, dim: outDim, seed: o.seed });
  const checkpointDir = o.checkpoint === false ? undefined : path.resolve(o.checkpoint ?? `${path.resolve(o.out)}.ckpt`);
  const epochs = o.epochs ?? 10;
  const batchSize = Math.min(o.batchSize ?? 64, src.n);
  const lr = o.lr ?? 1e-3;
  if (checkpointDir) {
    const id = { recipe: 'pretrain', data: path.resolve(o.data), images: src.n, backbone: o.spec, weights: o.weightsHash, cut, method, views, epochs, batchSize, lr, weightDecay: o.weightDecay ?? 1e-4, temperature: o.temperature ?? 0.2, trainBn: !!o.trainBn, seed: o.seed ?? 0 };
    prepareCheckpointDir(checkpointDir, id, !!o.resume, reporter);
  }
  const unlabelled: BatchSource = { n: src.n, dim: src.dim, y: new Int32Array(src.n).fill(-1), rows: (i, e) => src.rows(i, e) };
  const steps = Math.ceil(src.n / batchSize) * epochs;
  const bar = reporter.progress(`${method} steps`, steps);
  let resumedEpochs = 0;
  const tt0 = performance.now();
  const trainer = new Trainer(rep, {
    optimizer: 'adamw',
    lr,
    weightDecay: o.weightDecay ?? 1e-4,
    epochs,
    batchSize,
    schedule: 'onecycle',
    seed: o.seed ?? 0,
    restoreBest: false,
    objective,
    ...(checkpointDir ? { checkpoint: { path: path.join(checkpointDir, 'pretrain.ckpt'), tag: `graft pretrain ${method}` }, resume: true } : {}),
    callbacks: [
      {
        onResume: (done: number) => {
          resumedEpochs = done;
          bar.tick(Math.ceil(src.n / batchSize) * done);
          reporter.info(`  resuming after epoch ${done} (checkpoint in ${checkpointDir})`);
        },
        onBatchEnd: () => bar.tick(1),
        onEpochEnd: (l: EpochLogs) => {
          const t = l.terms ?? {};
          const extra = method === 'simclr' ? `nt-xent ${t.ntxent?.toFixed(4)} top-1 ${(100 * (t.top1 ?? 0)).toFixed(1)}%` : `rotation accuracy ${(100 * (t.rotationAccuracy ?? 0)).toFixed(1)}%`;
          reporter.info(`  epoch ${l.epoch + 1}: loss ${l.loss.toFixed(4)} ${extra} (${l.seconds.toFixed(1)} s)`);
        },
      },
    ],
  });
  const trainableParams = rep.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((p, q) => p * q, 1), 0);
  const history = await trainer.fit(unlabelled);
  bar.done();
  const trainSeconds = (performance.now() - tt0) / 1000;
  return { history, resumedEpochs, trainSeconds, trainableParams, checkpointDir, lr, batchSize };
}

/** Self-supervised adaptation of the tail on the images of `o.data` (see the module comment). */
export async function pretrainRecipe(o: PretrainOptions): Promise<PretrainResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  const method = checkOptions(o);
  const spec = await runSpec(o);
  const { cut, blocks } = resolveCut(spec, { unfreeze: o.unfreeze ?? 2, cut: o.cut });
  const views = resolveViews(o, method, spec.preprocess.size[0] === spec.preprocess.size[1]);
  const ds = await loadDataset(o.data, { classes: o.classes, limitPerClass: o.limitPerClass, strict: o.strict, unlabelled: true, valPercent: 0, testPercent: 0 });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (ds.samples.length < 2) throw new Error(`${o.data}: ${ds.samples.length} image${ds.samples.length === 1 ? '' : 's'}; self-supervised pretraining needs at least 2`);
  if (ds.labels.length > 1) reporter.warn(`${o.data}: the ${ds.labels.length} label folders are not used for training, only to score the representation before and after`);
  await initTf();
  const backbone = await openBackboneSpec(spec, { engine: o.engine, threads: o.threads, weights: o.weights, layer: cut });
  let src: AugmentedSource | undefined;
  let full: tfl.LayersModel | undefined;
  try {
    reporter.info(`${ds.samples.length} images; ${method} on ${blocks} block(s) of ${spec.name} from ${cut}; views ${views.join(', ')}`);
    const tf0 = performance.now();
    src = await augmentedSource(ds.samples, backbone, { views, seed: o.seed, reporter, strict: o.strict });
    const featureSeconds = (performance.now() - tf0) / 1000;
    if (src.n < 2) throw new Error(`${o.data}: fewer than 2 images decoded in every view`);
    full = (await spec.load({ weights: o.weights })).model;
    const { input, features, inputShape } = tailFeatures(spec, full, cut, src.dim, { trainBn: o.trainBn });
    const rep = tfl.model({ inputs: input, outputs: features, name: 'pretrain_tail' });
    const outDim = features.shape[features.shape.length - 1] as number;
    const labelled = ds.labels.length > 1;
    const before = labelled || o.report ? await representRows(rep, src, outDim) : undefined;
    const { history, resumedEpochs, trainSeconds, trainableParams, checkpointDir, lr, batchSize } = await trainTail(rep, src, outDim, method, views, { ...o, cut, weightsHash: backbone.weightsHash, spec: spec.name }, reporter);
    const after = await representRows(rep, src, outDim);
    // The bundle's classes: clusters of the adapted features.
    const c = clusterRows(after, src.n, outDim, { k: o.k ?? 'auto', kRange: [2, Math.min(20, src.n - 1)], seed: o.seed, progress: reporter.progress });
    const { kernel, bias } = centroidDense(after, src.n, outDim, c.labels, c.k);
    const dense = tfl.layers.dense({ units: c.k, name: 'logits' });
    const bundleModel = tfl.model({ inputs: input, outputs: dense.apply(features) as tfl.SymbolicTensor, name: 'pretrain' });
    dense.setWeights([tf.tensor2d(kernel, [outDim, c.k]), tf.tensor1d(bias)]);
    const scores = labelled ? await scoreRepresentation(before!, after, src.y, outDim, ds.labels.length, o, reporter) : undefined;
    const head: TailHeadSpec = { kind: 'tail', cut, blocks, inputShape, numClasses: c.k, dropout: 0, trainBn: !!o.trainBn };
    await saveBundle(
      o.out,
      {
        labels: Array.from({ length: c.k }, (_, i) => clusterFolderName(i, c.k)),
        backbone: { name: backbone.spec.name, weightsHash: backbone.weightsHash, layer: cut, dim: src.dim, ...(o.weights ? { weights: o.weights } : {}), ...(o.from !== undefined ? { from: EMBEDDED_FROM } : {}) },
        preprocess: spec.preprocess,
        head,
        metrics: {},
        training: {
          recipe: 'pretrain',
          method,
          data: o.data,
          views,
          unfreeze: blocks,
          cut,
          lr,
          batchSize,
          temperature: method === 'simclr' ? (o.temperature ?? 0.2) : undefined,
          clusters: { k: c.k, silhouette: c.silhouette },
          seed: o.seed ?? 0,
          trainableParams,
          ...(o.from !== undefined ? { from: path.resolve(o.from) } : {}),
          epochs: history.length,
          history,
        },
      },
      bundleModel,
      o.from !== undefined ? { embed: { name: EMBEDDED_FROM, source: o.from } } : {},
    );
    if (checkpointDir) fs.rmSync(checkpointDir, { recursive: true, force: true });
    const assigned = denseArgmax(after, src.n, outDim, kernel, bias);
    let report: string | undefined;
    if (o.report) {
      const { writePretrainReport } = await import('../report/pretrain.js');
      const clusterNames = Array.from({ length: c.k }, (_, i) => clusterFolderName(i, c.k));
      const summary: Record<string, string | number> = {
        images: src.n,
        method,
        backbone: `${spec.name}, last ${blocks} block(s) from ${cut} (${trainableParams.toLocaleString('en-US')} parameters adapted)`,
        views: views.join(', '),
        epochs: history.length,
        'training time (s)': +trainSeconds.toFixed(1),
        'bundle classes': `${c.k} clusters of the adapted features (silhouette ${c.silhouette.toFixed(3)})`,
        ...(scores ? { 'k-means NMI vs label folders': `${scores.nmiBefore.toFixed(3)} before → ${scores.nmiAfter.toFixed(3)} after` } : {}),
      };
      report = (
        await writePretrainReport(o.report, {
          title: `graft pretrain ${o.data}`,
          summary,
          probes: scores?.probes.map((p) => ({ shots: p.shots, before: p.before, after: p.after, queries: p.after.queries })) ?? [],
          history,
          accuracyTerm: method === 'simclr' ? 'top1' : 'rotationAccuracy',
          before: before ?? null,
          after,
          n: src.n,
          dim: outDim,
          groups: labelled ? src.y : assigned,
          groupNames: labelled ? ds.labels : clusterNames,
          groupKind: labelled ? 'label folder' : 'cluster',
        })
      ).html;
    }
    reporter.info(`bundle ${o.out}: the adapted network (use it with --from), classes = ${c.k} clusters of its features (silhouette ${c.silhouette.toFixed(3)})`);
    return {
      bundle: o.out,
      method,
      backbone: { name: spec.name, cut, blocks, dim: outDim, engine: backbone.engine },
      views,
      images: src.n,
      skipped: [...ds.skipped, ...src.skipped],
      features: { computed: src.computed, cached: src.cached },
      history,
      assignments: Array.from(assigned, (cluster, i) => ({ file: src!.samples[i]!.id, cluster })),
      trainableParams,
      clusters: { k: c.k, silhouette: c.silhouette, sizes: c.sizes, nmiBefore: scores?.nmiBefore ?? null, nmiAfter: scores?.nmiAfter ?? null },
      probes: scores?.probes ?? [],
      resumedEpochs,
      seconds: { features: featureSeconds, train: trainSeconds, total: (performance.now() - t0) / 1000 },
      ...(report ? { report } : {}),
    };
  } finally {
    src?.close();
    full?.dispose();
    await backbone.dispose();
  }
}

/** The pixel views pretraining may ask for beyond `--augment`'s (for the CLI's help). */
export const PRETRAIN_EXTRA_VIEWS = PIXEL_VIEWS;
