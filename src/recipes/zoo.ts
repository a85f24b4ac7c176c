/** `graft zoo`: what backbones graft knows, what their weights are, and whether they are at hand. */
import fs from 'node:fs';
import { listBackbones } from '../models/registry.js';
import { onnxCachePath } from '../models/backbone.js';
import { resolveBackbone } from '../models/resolve.js';
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
  /** `file`: a model file of the user's (path or cached URL). */
  weights: 'bundled' | 'cached' | 'downloadable' | 'file';
  /** The ONNX graph of the feature extractor is already converted and cached. */
  onnxCached: boolean;
  preprocess: unknown;
  provenance: string;
  license: string;
  /** Model files: every name `--layer` accepts (tfjs layers / ONNX node outputs). */
  layers?: string[];
}

/** One backbone: a registry name, or a model file (`graft zoo show ./model.json`). */
export async function zooEntry(name: string): Promise<ZooRow> {
  const s = await resolveBackbone(name);
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
    weights: s.bundled ? 'bundled' : s.layers ? 'file' : s.publishedWeightsPath && fs.existsSync(s.publishedWeightsPath()) ? 'cached' : 'downloadable',
    onnxCached: !s.onnx && fs.existsSync(onnxCachePath(s, s.featureLayer, hash)),
    preprocess: s.preprocess,
    provenance: s.provenance,
    license: s.license,
    ...(s.layers ? { layers: s.layers } : {}),
  };
}

export async function zooTable(): Promise<ZooRow[]> {
  const rows: ZooRow[] = [];
  for (const s of listBackbones()) rows.push(await zooEntry(s.name));
  return rows;
}
