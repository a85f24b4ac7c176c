/**
 * A trained bundle used as a pretrained backbone (`--from BUNDLE`, the seed's second stage): the
 * bundle's whole network with its classifier dropped, frozen, under a new head. Its weights hash
 * combines the base backbone's hash with the bundle's own file checksums, so feature caches and
 * converted ONNX graphs are keyed by exactly these weights.
 *
 * A bundle trained from another bundle embeds a copy of it (`from/` inside the bundle), so it stays
 * self-contained: moving or deleting the source bundle does not break it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readBundleMeta, type BundleMeta } from '../bundle/bundle.js';
import { loadBundleNetwork } from '../bundle/network.js';
import { resolveBackbone } from './resolve.js';
import { isTeachableMachineDir } from './teachable.js';
import type { BackboneSpec, WeightsOption } from './types.js';

/** Name of the folder inside a bundle that holds the bundle it was trained from. */
export const EMBEDDED_FROM = 'from';

/** The spec of the backbone a bundle in `dir` was trained on (registry entry or embedded bundle). */
export async function bundleBaseSpec(dir: string, meta: BundleMeta = readBundleMeta(dir)): Promise<BackboneSpec> {
  if (meta.backbone.from) return bundleSpec(path.join(dir, meta.backbone.from));
  return resolveBackbone(meta.backbone.name);
}

function bundleHash(meta: BundleMeta): string {
  return createHash('sha256')
    .update(`${meta.backbone.weightsHash}\n${meta.files['model.json']}\n${meta.files['weights.bin']}\n${meta.backbone.layer}`)
    .digest('hex');
}

interface LayerCfg {
  class_name: string;
  config: { name: string; layers?: LayerCfg[]; output_layers?: [string, number, number][] };
  inbound_nodes?: unknown[];
}

/** The innermost layer producing a (possibly nested) model layer's output. */
function innermost(l: LayerCfg): LayerCfg {
  while (l.config.layers && l.config.output_layers) {
    const name = l.config.output_layers[0][0];
    const inner = l.config.layers.find((c) => c.config.name === name);
    if (!inner) break;
    l = inner;
  }
  return l;
}

/**
 * Which layer of the rebuilt network feeds the bundle's final classifier, and its width, read from
 * the bundle's model.json (no weights loaded): walk back from the output past Dropout layers.
 * `undefined` means the classifier sits directly on the bundle's input (a linear head).
 */
export function classifierInput(modelJson: string): { layer: string | undefined; dim: number } {
  const mj = JSON.parse(modelJson) as {
    modelTopology: { class_name: string; config: { layers: LayerCfg[]; output_layers?: [string, number, number][] } };
    weightsManifest: { weights: { name: string; shape: number[] }[] }[];
  };
  const topo = mj.modelTopology;
  const list = topo.config.layers;
  const byName = new Map(list.map((l) => [l.config.name, l]));
  const sequential = topo.class_name === 'Sequential';
  const inboundOf = (l: LayerCfg, i: number): LayerCfg | undefined => {
    if (sequential) return list[i - 1];
    const node = (l.inbound_nodes?.[0] ?? []) as [string, ...unknown[]][];
    return node[0] ? byName.get(node[0][0]) : undefined;
  };
  let cur = sequential ? list[list.length - 1] : byName.get(topo.config.output_layers![0][0]);
  if (!cur || cur.class_name !== 'Dense') throw new Error('bundle model: the last layer is not a Dense classifier');
  const kernel = mj.weightsManifest.flatMap((g) => g.weights).find((w) => w.name.startsWith(`${cur!.config.name}/kernel`));
  if (!kernel) throw new Error(`bundle model: no kernel for ${cur.config.name}`);
  cur = inboundOf(cur, list.indexOf(cur));
  while (cur && (cur.class_name === 'Dropout' || cur.class_name === 'SpatialDropout2D')) cur = inboundOf(cur, list.indexOf(cur));
  const layer = !cur || cur.class_name === 'InputLayer' ? undefined : innermost(cur).config.name;
  return { layer, dim: kernel.shape[0] };
}

/** The bundle in `dir` as a backbone spec: features = the input of its final classifier. */
export async function bundleSpec(dir: string): Promise<BackboneSpec> {
  // `--from` a Teachable Machine export: its model.json is the backbone (models/teachable.ts).
  if (isTeachableMachineDir(dir)) return resolveBackbone(path.join(path.resolve(dir), 'model.json'));
  const meta = readBundleMeta(dir);
  let base: BackboneSpec;
  try {
    base = await bundleBaseSpec(dir, meta);
  } catch (e) {
    throw new Error(`${dir}: cannot rebuild the bundle's network: ${(e as Error).message}`);
  }
  const hash = bundleHash(meta);
  const ci = classifierInput(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const featureLayer = ci.layer ?? meta.backbone.layer;
  const refuse = (w?: WeightsOption) => {
    if (w?.weights) throw new Error(`bundle ${dir}: --weights does not apply to a bundle backbone (its weights are the bundle's)`);
  };
  const spec: BackboneSpec = {
    name: `bundle.${hash.slice(0, 12)}`,
    source: `bundle:${path.resolve(dir)}`,
    arch: 'bundle',
    tag: hash.slice(0, 12),
    preprocess: meta.preprocess,
    featureLayer,
    featureDim: ci.dim,
    // Every cut point of the base network up to the bundle's classifier is a layer of the rebuilt network too.
    cutPoints: base.cutPoints.includes(featureLayer) ? base.cutPoints.slice(0, base.cutPoints.indexOf(featureLayer) + 1) : base.cutPoints,
    provenance: `graft bundle ${path.resolve(dir)} (${meta.labels.length} classes: ${meta.labels.slice(0, 5).join(', ')}${meta.labels.length > 5 ? ', …' : ''}) on ${base.name}`,
    license: base.license,
    bundled: false,
    async load(w) {
      refuse(w);
      let net;
      try {
        net = await loadBundleNetwork(dir, base);
      } catch (e) {
        throw new Error(`${dir}: its network is not in the cache and cannot be rebuilt: ${(e as Error).message}`);
      }
      return { model: net.model, weightsHash: hash };
    },
    async weightsHash(w) {
      refuse(w);
      return hash;
    },
    async paramCount() {
      const { model } = await spec.load();
      const n = model.countParams();
      model.dispose();
      return n;
    },
  };
  return spec;
}
