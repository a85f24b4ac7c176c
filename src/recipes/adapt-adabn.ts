/**
 * AdaBN over the whole backbone (`graft adapt --method adabn` with frozen features; Li et al.
 * 2016): each domain goes through the network with BatchNorm statistics of its own. The
 * backbone's statistics are ImageNet's, so both sides are re-estimated: on source images for the
 * features the head learns from, on target images for the network the bundle carries. Every
 * BatchNormalization layer is re-estimated in layer order (each sees the outputs of the already
 * re-estimated ones), in one training-mode pass per batch of images whose batch statistics are
 * averaged (`reestimateBatchNorm`). The result is a whole-network bundle — pixels → the
 * target-adapted network → the head — so its ONNX graph and feature cache follow the new
 * statistics. Source rows are scored through the source-adapted network and the same head.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { TailHeadSpec } from '../bundle/bundle.js';
import { decodeToTensorData, type Preprocess } from '../data/decode.js';
import type { Sample } from '../data/types.js';
import { tf } from '../engine/tfjs.js';
import type { BackboneSpec } from '../models/types.js';
import { INPUT_CUT } from '../models/tail.js';
import { allLayers } from '../models/walk.js';
import { rng, shuffle } from '../util/rng.js';
import type { Reporter } from '../util/log.js';
import type { Examples } from '../train/trainer.js';
import type { AdaptContext, MethodFit, MethodSettings } from './adapt-methods.js';
import { fitFeatureMethod, type FeatureMethod, type PriorFits } from './adapt-stack.js';
import type { TailContext } from './adapt-tail.js';
import { headProbabilities } from './run.js';
import { tailFeatures } from './tail-fit.js';

/** Images per domain AdaBN reads by default. */
export const ADABN_IMAGES = 64;
const BATCH = 16;

export interface WholeAdabnContext extends TailContext {
  /** The samples behind the source split rows and the target rows, decoded again as pixels. */
  sourceSamples: { train: Sample[]; val: Sample[]; test: Sample[] };
  /** The run's source test rows (the run scores its bundle on them). */
  testRows: Examples;
  targetSamples: Sample[];
  /** Images per domain the statistics are re-estimated on. */
  images?: number;
}

/** A MethodFit whose model takes pixels: the adapt loop saves it and scores the target through the bundle. */
export type PixelMethodFit = MethodFit & { pixels: true; sourceProbabilities: (e: Examples) => Promise<Float32Array> };

interface BnLayer {
  momentum: number;
  name: string;
}

function batchNormLayers(m: tfl.LayersModel): BnLayer[] {
  return allLayers([m]).filter((l) => l.getClassName() === 'BatchNormalization') as unknown as BnLayer[];
}

/**
 * Re-estimate every BatchNorm layer of `net` (NHWC images in) on `x`: training-mode passes of
 * BATCH images, each BN normalising by its batch's statistics (so later layers see re-estimated
 * inputs) and its moving mean/variance set to the running mean of the batches' (momentum b/(b+1)).
 */
export function reestimateBatchNorm(net: tfl.LayersModel, x: Float32Array, n: number, shape: number[]): string[] {
  const bns = batchNormLayers(net);
  const saved = bns.map((b) => b.momentum);
  const d = shape.reduce((a, b) => a * b, 1);
  try {
    for (let s = 0, b = 0; s < n; s += BATCH, b++) {
      for (const bn of bns) bn.momentum = b / (b + 1);
      const e = Math.min(n, s + BATCH);
      tf.tidy(() => void net.apply(tf.tensor(x.subarray(s * d, e * d), [e - s, ...shape]), { training: true }));
    }
  } finally {
    bns.forEach((bn, i) => (bn.momentum = saved[i]!));
  }
  return bns.map((b) => b.name);
}

async function decodeAll(samples: Sample[], pre: Preprocess, reporter: Reporter): Promise<{ x: Float32Array; n: number; used: Sample[] }> {
  const d = pre.size[0] * pre.size[1] * 3;
  const x = new Float32Array(samples.length * d);
  const used: Sample[] = [];
  for (const s of samples) {
    try {
      x.set(await decodeToTensorData(s, pre), used.length * d);
      used.push(s);
    } catch (e) {
      reporter.warn(`adabn: skipped ${s.id}: ${(e as Error).message}`);
    }
  }
  return { x: x.subarray(0, used.length * d), n: used.length, used };
}

/** Up to `k` of `samples`, seeded. */
function subset(samples: Sample[], k: number, seed: number): Sample[] {
  const order = Int32Array.from(samples.keys());
  shuffle(order, rng(seed >>> 0));
  return Array.from(order.subarray(0, Math.min(k, order.length)), (i) => samples[i]!);
}

/** The feature network (pixels → the backbone's features) of a fresh copy of the backbone, its BN re-estimated on `x`. */
async function adaptedNetwork(spec: BackboneSpec, weights: string | undefined, x: { x: Float32Array; n: number }, tag: string) {
  const { model: full } = await spec.load({ weights });
  const [h, w] = spec.preprocess.size;
  const { input, features, inputShape } = tailFeatures(spec, full, INPUT_CUT, h * w * 3, { trainBn: true });
  const net = tfl.model({ inputs: input, outputs: features, name: `adabn_${tag}` });
  const layers = reestimateBatchNorm(net, x.x, x.n, [h * w * 3]);
  return { full, net, features, input, inputShape, layers };
}

/** Feature rows of samples through a network, in batches; labels from the samples. */
async function featureRows(net: tfl.LayersModel, samples: Sample[], pre: Preprocess, reporter: Reporter): Promise<Examples> {
  const d = pre.size[0] * pre.size[1] * 3;
  const dim = net.outputs[0]!.shape[1] as number;
  const x = new Float32Array(samples.length * dim);
  for (let s = 0; s < samples.length; s += BATCH) {
    const px = await decodeAll(samples.slice(s, s + BATCH), pre, reporter);
    if (px.n !== Math.min(BATCH, samples.length - s)) throw new Error('adabn: a source image that was read before failed to decode');
    const y = tf.tidy(() => net.predict(tf.tensor2d(px.x, [px.n, d])) as tf.Tensor);
    x.set(y.dataSync() as Float32Array, s * dim);
    y.dispose();
  }
  return { x, y: Int32Array.from(samples, (s) => s.label), n: samples.length, dim };
}

/** Whole-backbone AdaBN alone, or followed by a frozen-feature method on the re-estimated networks' features. */
export const ADABN_METHODS = ['adabn', 'adabn+coral', 'adabn+self-train', 'adabn+coral+self-train'] as const;
export type AdabnMethod = (typeof ADABN_METHODS)[number];
const HEAD_METHOD: Record<AdabnMethod, FeatureMethod> = { adabn: 'source-only', 'adabn+coral': 'coral', 'adabn+self-train': 'self-train', 'adabn+coral+self-train': 'coral+self-train' };

/**
 * What every AdaBN method of one run shares (computed once): the source rows through the
 * source-adapted network, the target rows through the target-adapted one, and the heads fitted
 * on them. `release` frees it all; the adapt loop calls it once at the end.
 */
export interface AdabnDomains {
  ctx: AdaptContext;
  rows: { train: Examples; val: Examples; test: Examples };
  tgtPixels: { x: Float32Array; n: number };
  layers: number;
  sourceImages: number;
  fits: PriorFits;
  seconds: number;
  release: () => void;
}

async function adabnDomains(c: WholeAdabnContext): Promise<AdabnDomains> {
  const images = c.images ?? ADABN_IMAGES;
  if (!(Number.isInteger(images) && images >= 2)) throw new Error(`--adabn-images must be an integer ≥ 2, got ${images}`);
  const pre = c.spec.preprocess;
  const t0 = performance.now();
  const src = await decodeAll(subset(c.sourceSamples.train, images, c.seed * 7919 + 11), pre, c.reporter);
  const tgt = await decodeAll(subset(c.targetSamples, images, c.seed * 7919 + 13), pre, c.reporter);
  if (src.n < 2 || tgt.n < 2) throw new Error(`adabn: needs at least 2 readable images of each domain, read ${src.n} source and ${tgt.n} target`);
  const s = await adaptedNetwork(c.spec, c.weights, src, 'source');
  const fits: PriorFits = {};
  const release = () => {
    s.full.dispose();
    for (const f of Object.values(fits)) f?.model.dispose();
  };
  try {
    c.reporter.info(`adabn: ${s.layers.length} BatchNorm layers re-estimated on ${src.n} source images; source features through that network`);
    const rows = { train: await featureRows(s.net, c.sourceSamples.train, pre, c.reporter), val: await featureRows(s.net, c.sourceSamples.val, pre, c.reporter), test: await featureRows(s.net, c.sourceSamples.test, pre, c.reporter) };
    const t = await adaptedNetwork(c.spec, c.weights, tgt, 'target');
    let target: Examples;
    try {
      target = await featureRows(t.net, c.targetSamples, pre, c.reporter);
    } finally {
      t.full.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    c.reporter.info(`adabn: both domains through their re-estimated networks (${src.n} / ${tgt.n} images for the statistics; ${seconds.toFixed(1)} s)`);
    const ctx: AdaptContext = { ...c, train: rows.train, val: rows.val, target: { x: target.x, n: target.n, dim: target.dim }, checkpoint: undefined, resume: false };
    return { ctx, rows, tgtPixels: tgt, layers: s.layers.length, sourceImages: src.n, fits, seconds, release };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * An AdaBN method: its head (source-only, CORAL, self-training, …) fitted on the AdaBN domains,
 * put behind a fresh copy of the target-adapted network (pixels → logits).
 */
export async function wholeBackboneAdabn(c: WholeAdabnContext, method: AdabnMethod, shared: { domains?: Promise<AdabnDomains> }, settings: MethodSettings = {}): Promise<PixelMethodFit> {
  shared.domains ??= adabnDomains(c);
  const d = await shared.domains;
  const m = HEAD_METHOD[method];
  const t0 = performance.now();
  const fit = d.fits[m] ?? (await fitFeatureMethod(m, d.ctx, settings, d.fits));
  d.fits[m] = fit;
  const t = await adaptedNetwork(c.spec, c.weights, d.tgtPixels, 'target');
  try {
    let z = t.features;
    for (const l of fit.model.layers) z = l.apply(z) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: t.input, outputs: z, name: method.replace(/\W+/g, '_') });
    const spec: TailHeadSpec = { kind: 'tail', cut: INPUT_CUT, blocks: c.spec.cutPoints.length, inputShape: t.inputShape, numClasses: c.numClasses, dropout: 0, trainBn: false };
    // The run's split rows (the pretrained network's features) stand for their samples: score the source-adapted rows (as the head saw them) instead.
    const seen = { train: fit.trainView ?? d.rows.train, val: fit.valView };
    const adapted = new Map<Examples, Examples>([[c.train, seen.train], [c.val, seen.val], [c.testRows, d.rows.test]]);
    const view = fit.represent ? { train: fit.represent(d.rows.train.x, d.rows.train.n, 'source'), val: fit.represent(d.rows.val.x, d.rows.val.n, 'source'), target: fit.represent(d.ctx.target.x, d.ctx.target.n, 'target') } : undefined;
    return {
      model,
      head: spec,
      history: fit.history,
      training: { unfreeze: 0, adabn: 'whole backbone', then: m, sourceImages: d.sourceImages, targetImages: d.tgtPixels.n, ...fit.training },
      valView: seen.val,
      domainView: view
        ? { train: { x: view.train.x, n: d.rows.train.n }, val: { x: view.val.x, n: d.rows.val.n }, target: { x: view.target.x, n: d.ctx.target.n }, dim: view.train.dim }
        : { train: d.rows.train, val: d.rows.val, target: d.ctx.target, dim: d.ctx.target.dim },
      details: { ...fit.details, batchNormLayers: t.layers.length, sourceImages: d.sourceImages, targetImages: d.tgtPixels.n, sharedSeconds: d.seconds, headSeconds: (performance.now() - t0) / 1000 },
      pixels: true,
      sourceProbabilities: async (e) => {
        const r = adapted.get(e) ?? (e === seen.val || e === seen.train || e === d.rows.test ? e : undefined);
        if (!r) throw new Error('adabn: source rows it does not know');
        return headProbabilities(fit.model, r.x, r.n, r.dim);
      },
      release: () => t.full.dispose(),
    };
  } catch (e) {
    t.full.dispose();
    throw e;
  }
}

/** Probabilities of a saved whole-network bundle on samples (the rows a feature method would score), in their order. */
export async function bundleProbabilities(bundle: string, samples: Sample[]): Promise<Float32Array> {
  const { Classifier } = await import('./predict.js');
  const clf = await Classifier.load(bundle);
  try {
    const r = await clf.probabilities(samples, { cache: false });
    if (r.samples.length !== samples.length) throw new Error(`adabn: ${samples.length - r.samples.length} target image(s) failed through the adapted network: ${r.skipped.map((s) => s.file).join(', ')}`);
    return r.probs;
  } finally {
    await clf.dispose();
  }
}

export const isPixelFit = (f: MethodFit): f is PixelMethodFit => (f as Partial<PixelMethodFit>).pixels === true;
