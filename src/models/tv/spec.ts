/**
 * Registry glue for torchvision architectures: one `TvArch` per network (how to build it, where its
 * features and cut points are) and one `TvTag` per set of published weights; `registerTv` turns
 * the pair into the `<arch>.<tag>` BackboneSpec.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from '../../engine/tfjs.js';
import type { Preprocess } from '../../data/decode.js';
import { registerBackbone } from '../registry.js';
import type { BackboneSpec, WeightsOption } from '../types.js';
import type { StateDict, TvNet } from './common.js';
import path from 'node:path';
import { readTvStateDict, resolveTvWeights, tvWeightsDir, tvWeightsHash, type TvWeightsSource } from './weights.js';

export interface TvArch {
  /** torchvision builder name, e.g. `resnet18`. */
  arch: string;
  /** Build the network (NHWC input of `inputSize`, `numClasses` logits) with its model finished. */
  build(inputSize: [number, number], numClasses: number): TvNet;
  /** State-dict key of the classifier's weight ([numClasses, D]); its rows give the class count. */
  classifierKey: string;
  /** Layer holding the pooled feature vector, and its size. */
  featureLayer: string;
  featureDim: number;
  /** Named blocks usable as cut points, in network order. */
  cutPoints: string[];
  /** Parameters as torchvision counts them for 1000 classes (its `num_params`; see each family). */
  params: number;
  /** Smallest input side the architecture accepts. */
  minSize: number;
}

export interface TvTag {
  tag: string;
  weights: TvWeightsSource;
  /** Network input side (crop) and the side the shorter image edge is resized to first. */
  crop: number;
  resize: number;
  mean: [number, number, number];
  std: [number, number, number];
  provenance: string;
  license: string;
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/**
 * The `tv_in1k` tag of a torchvision ImageNet-1k checkpoint at download.pytorch.org: resize 256 →
 * center-crop 224, ImageNet mean/std (override any field, e.g. crop/resize for Inception).
 */
export function tvTag(arch: string, file: string, sha256: string, size?: number, over: Partial<TvTag> = {}): TvTag {
  return {
    tag: 'tv_in1k',
    weights: { file, url: `https://download.pytorch.org/models/${file}`, sha256, size },
    crop: 224,
    resize: 256,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    provenance: tvProvenance(`${arch} IMAGENET1K_V1`),
    license: TV_LICENSE,
    ...over,
  };
}

const archs = new Map<string, TvArch>();
const tags = new Map<string, TvTag>();

/** A torchvision architecture graft can build, by torchvision name. */
export function getTvArch(arch: string): TvArch {
  const a = archs.get(arch);
  if (!a) throw new Error(`unknown torchvision architecture "${arch}"; known: ${[...archs.keys()].join(', ')}`);
  return a;
}

export function listTvArchs(): TvArch[] {
  return [...archs.values()];
}

/** The weights tag behind a registered `<arch>.<tag>` name. */
export function getTvTag(name: string): TvTag {
  const t = tags.get(name);
  if (!t) throw new Error(`no torchvision weights tag "${name}"`);
  return t;
}

/** Classes of the classifier in `sd` (its weight's rows), or 1000 when the key is absent. */
export function classesOf(a: TvArch, sd: StateDict): number {
  const w = sd.get(a.classifierKey);
  return w && w.shape.length === 2 && w.shape[0]! > 0 ? w.shape[0]! : 1000;
}

/**
 * Build `a` for `inputSize` and load the state dict `sd` (read from `source`) into it. The class
 * count follows the file's classifier, so fine-tuned torchvision checkpoints load too.
 */
export function buildTvModel(a: TvArch, sd: StateDict, inputSize: [number, number], source = 'the weights'): { net: TvNet; model: tfl.LayersModel } {
  if (inputSize[0] < a.minSize || inputSize[1] < a.minSize) throw new Error(`${a.arch} needs an input of at least ${a.minSize}×${a.minSize}, got ${inputSize[0]}×${inputSize[1]}`);
  const net = a.build(inputSize, classesOf(a, sd));
  try {
    net.loadStateDict(sd, source);
  } catch (e) {
    net.model.dispose();
    throw e;
  }
  return { net, model: net.model };
}

function tvSpec(a: TvArch, t: TvTag): BackboneSpec {
  const name = `${a.arch}.${t.tag}`;
  const preprocess: Preprocess = { size: [t.crop, t.crop], resize: 'center-crop', cropFraction: t.crop / t.resize, mean: t.mean, std: t.std };
  return {
    name,
    arch: a.arch,
    tag: t.tag,
    preprocess,
    featureLayer: a.featureLayer,
    featureDim: a.featureDim,
    cutPoints: a.cutPoints,
    provenance: t.provenance,
    license: t.license,
    bundled: false,
    publishedWeightsPath: () => path.join(tvWeightsDir(), t.weights.file),
    async load(w?: WeightsOption) {
      const { file, sha256 } = await resolveTvWeights(name, t.weights, w);
      await initTf();
      const sd = readTvStateDict(name, file);
      const { model } = buildTvModel(a, sd, [t.crop, t.crop], `the weights in ${file}`);
      return { model, weightsHash: sha256 };
    },
    weightsHash(w?: WeightsOption) {
      return tvWeightsHash(name, t.weights, w);
    },
    async paramCount() {
      return a.params;
    },
  };
}

/** Register architecture `a` (once) and its weights tag `t` as `<arch>.<tag>`. */
export function registerTv(a: TvArch, t: TvTag, opts: { isDefaultTag?: boolean } = {}): void {
  const known = archs.get(a.arch);
  if (known && known !== a) throw new Error(`torchvision architecture ${a.arch} is registered twice`);
  archs.set(a.arch, a);
  tags.set(`${a.arch}.${t.tag}`, t);
  registerBackbone(tvSpec(a, t), opts);
}

/** torchvision's code is BSD-3-Clause; PyTorch gives its pretrained weights no license of their own
 * and warns that terms of the training data (ImageNet-1k) may apply. */
export const TV_LICENSE = 'BSD-3-Clause (torchvision); the pretrained weights may carry ImageNet-1k terms: check them for your use';

export function tvProvenance(what: string): string {
  return `torchvision ${what}: the ImageNet-1k classifier weights published by PyTorch (download.pytorch.org), loaded from the original state dict into graft's tfjs re-implementation of the torchvision architecture (parity with PyTorch checked in graft's tests).`;
}
