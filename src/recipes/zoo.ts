/** `graft zoo`: what backbones graft knows, what their weights are, and whether they are at hand. */
import fs from 'node:fs';
import { listBackbones, getBackbone } from '../models/registry.js';
import { onnxCachePath } from '../models/backbone.js';
import '../models/nsfwjs.js';

export interface ZooRow {
  name: string;
  arch: string;
  tag: string;
  input: [number, number];
  featureDim: number;
  featureLayer: string;
  params: number;
  cutPoints: string[];
  weights: 'bundled' | 'cached' | 'downloadable';
  /** The ONNX graph of the feature extractor is already converted and cached. */
  onnxCached: boolean;
  preprocess: unknown;
  provenance: string;
  license: string;
}

export async function zooEntry(name: string): Promise<ZooRow> {
  const s = getBackbone(name);
  const hash = await s.weightsHash();
  return {
    name: s.name,
    arch: s.arch,
    tag: s.tag,
    input: s.preprocess.size,
    featureDim: s.featureDim,
    featureLayer: s.featureLayer,
    params: await s.paramCount(),
    cutPoints: s.cutPoints,
    weights: s.bundled ? 'bundled' : s.publishedWeightsPath && fs.existsSync(s.publishedWeightsPath()) ? 'cached' : 'downloadable',
    onnxCached: fs.existsSync(onnxCachePath(s, s.featureLayer, hash)),
    preprocess: s.preprocess,
    provenance: s.provenance,
    license: s.license,
  };
}

export async function zooTable(): Promise<ZooRow[]> {
  const rows: ZooRow[] = [];
  for (const s of listBackbones()) rows.push(await zooEntry(s.name));
  return rows;
}
