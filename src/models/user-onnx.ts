/**
 * A user's ONNX classifier as a frozen backbone (feature extraction only, on onnxruntime).
 *
 * The file's graph is re-targeted, not converted: graft decodes it (onnx-decode.ts), makes the
 * chosen tensor the only output, drops the nodes and initializers no longer needed, and writes
 * everything it keeps back byte-exact.
 * - Features: the input of the last Gemm/MatMul (the classifier; a trailing Softmax is beyond it),
 *   else the graph output. `--layer logits` = the graph output; `--layer NAME` = any node output.
 * - Layout: graft feeds NHWC float32. An NCHW input (torchvision exports) gets a Transpose in
 *   front; a 4-D NCHW output is transposed back to NHWC before it is flattened, so rows have the
 *   element order of every other graft backbone. The batch dimension is made symbolic; a graph
 *   that still only runs one image at a time (a reshape with a hard-coded batch) is fed one by one.
 * - Preprocessing default: torchvision's (resize the short side to size/0.875, centre crop,
 *   ImageNet mean/std), the convention of most exported classifiers; `#…`/flags override it.
 * - Input size: the graph input's fixed H, W, or `--input-size` when they are symbolic.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { decodeModel, spliceModel, type DecodedModel } from '../convert/onnx-decode.js';
import { DataType, encodeNode, encodeValueInfo } from '../convert/onnx-proto.js';
import { OrtSession } from '../engine/ort.js';
import { applyOverrides, cachedFile, type FileRef } from './file-ref.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './tv/spec.js';
import type { BackboneSpec, WeightsOption } from './types.js';

export const FROZEN_ONNX = 'ONNX backbones are frozen: run on --engine ort; fine-tuning needs a tfjs or registry backbone';

const NHWC_INPUT = 'graft_input_nhwc';
/** Ops with sub-graphs that may read outer tensors implicitly: graphs holding them are not pruned. */
const SUBGRAPH_OPS = new Set(['If', 'Loop', 'Scan']);

/** What graft needs to know about a decoded ONNX classifier. */
interface Analysis {
  model: DecodedModel;
  input: string;
  nchw: boolean;
  size: [number, number];
  /** Graph output ('logits'). */
  logits: string;
  /** Default feature tensor. */
  features: string;
  /** Every node output name. */
  outputs: Set<string>;
}

function readBytes(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${(e as Error).message})`);
  }
}

function analyze(bytes: Uint8Array, file: string, ref: FileRef): Analysis {
  const model = decodeModel(bytes, file);
  const g = model.graph;
  const external = g.initializer.find((t) => t.external);
  if (external) throw new Error(`${file}: initializer ${external.name} is stored in an external data file; graft reads single-file ONNX models`);
  const inits = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw new Error(`${file}: the graph has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); a backbone takes one image batch`);
  const inp = inputs[0]!;
  if (inp.elemType !== DataType.FLOAT) throw new Error(`${file}: input ${inp.name} has element type ${inp.elemType ?? 'unknown'}; graft feeds float32`);
  const shape = inp.shape ?? [];
  const dims = shape.map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
  const nchw = shape.length === 4 && dims[1] === 3 && dims[3] !== 3;
  if (shape.length !== 4 || (!nchw && dims[3] !== 3)) {
    throw new Error(`${file}: input ${inp.name} has shape [${shape.map((d) => (d === '' ? '?' : d)).join(',')}]; expected an RGB image batch [N,3,H,W] or [N,H,W,3]`);
  }
  const [hd, wd] = nchw ? [dims[2], dims[3]] : [dims[1], dims[2]];
  const fixed = hd && wd ? ([hd, wd] as [number, number]) : undefined;
  const size = ref.overrides.size ?? fixed;
  if (!size) throw new Error(`${file}: the input's height/width are symbolic; give the input size with --input-size H[xW]`);
  if (fixed && (fixed[0] !== size[0] || fixed[1] !== size[1])) throw new Error(`${file}: the model takes ${fixed.join('×')} inputs, not ${size.join('×')}`);
  const logits = g.output[0]!.name;
  const classifier = [...g.node].reverse().find((n) => n.opType === 'Gemm' || n.opType === 'MatMul');
  const features = classifier?.input.find((t) => !inits.has(t)) ?? logits;
  const outputs = new Set(g.node.flatMap((n) => n.output).filter(Boolean));
  return { model, input: inp.name, nchw, size, logits, features, outputs };
}

/** The tensor named by a layer: 'logits' → graph output; else a node output. */
function tensorFor(a: Analysis, layer: string, file: string): string {
  if (layer === 'logits') return a.logits;
  if (!a.outputs.has(layer)) throw new Error(`${file}: "${layer}" is not a node output of the graph (graft zoo show ${file} lists them)`);
  return layer;
}

/** The graph re-targeted to output `target` (NHWC in; `toNhwc`: transpose a 4-D NCHW output). */
function retarget(a: Analysis, target: string, toNhwc: boolean): Uint8Array {
  const g = a.model.graph;
  const needed = new Set([target]);
  const keep = new Array<boolean>(g.node.length).fill(false);
  for (let i = g.node.length - 1; i >= 0; i--) {
    const n = g.node[i]!;
    if (!n.output.some((o) => needed.has(o))) continue;
    keep[i] = true;
    n.input.forEach((t) => needed.add(t));
  }
  const all = g.node.some((n, i) => keep[i] && SUBGRAPH_OPS.has(n.opType));
  const nodes = g.node.filter((_, i) => all || keep[i]).map((n) => n.raw);
  const used = (name: string) => all || needed.has(name);
  const initializers = g.initializer.filter((t) => used(t.name));
  const initNames = new Set(initializers.map((t) => t.name));
  const [h, w] = a.size;
  const inputName = a.nchw ? NHWC_INPUT : a.input;
  const pre = a.nchw ? [encodeNode({ name: 'graft_nhwc_to_nchw', opType: 'Transpose', input: [NHWC_INPUT], output: [a.input], attribute: [{ name: 'perm', value: { type: 'ints', ints: [0, 3, 1, 2] } }] })] : [];
  const out = toNhwc ? `${target}__graft_nhwc` : target;
  const post = toNhwc ? [encodeNode({ name: 'graft_nchw_to_nhwc', opType: 'Transpose', input: [target], output: [out], attribute: [{ name: 'perm', value: { type: 'ints', ints: [0, 2, 3, 1] } }] })] : [];
  return spliceModel(a.model, {
    node: [...pre, ...nodes, ...post],
    initializer: initializers.map((t) => t.raw),
    // Initializers listed as inputs (IR < 4) stay; the image input gets a symbolic batch.
    input: [encodeValueInfo({ name: inputName, elemType: DataType.FLOAT, shape: ['N', h, w, 3] }), ...g.input.filter((v) => initNames.has(v.name)).map((v) => v.raw)],
    // Value infos are dropped: exporters record them with the batch size they traced.
    output: [encodeValueInfo({ name: out, elemType: DataType.FLOAT })],
  });
}

/** Output dims of a graph on zeros, and whether it runs only one image at a time. */
async function probe(bytes: Uint8Array, size: [number, number], what: string): Promise<{ dims: number[]; maxBatch?: number }> {
  let s: OrtSession;
  try {
    s = await OrtSession.create(bytes, { threads: 1 });
  } catch (e) {
    throw new Error(`${what}: onnxruntime cannot load it (${(e as Error).message.trim()})`);
  }
  const run = (n: number) => s.run(new Float32Array(n * size[0] * size[1] * 3), [n, ...size, 3]);
  try {
    const two = await run(2).catch(() => undefined);
    if (two && two.dims[0] === 2) return { dims: two.dims };
    return { dims: (await run(1)).dims, maxBatch: 1 };
  } catch (e) {
    throw new Error(`${what}: onnxruntime cannot run it (${(e as Error).message.trim()})`);
  } finally {
    await s.release();
  }
}

/** The backbone spec of an ONNX classifier file (see the module comment). */
export async function onnxFileSpec(ref: FileRef): Promise<BackboneSpec> {
  const file = ref.isUrl ? await cachedFile(ref.location, path.posix.basename(new URL(ref.location).pathname)) : ref.location;
  const bytes = readBytes(file);
  const hash = createHash('sha256').update(bytes).digest('hex');
  const a = analyze(bytes, file, ref);
  const probed = new Map<string, { dims: number[]; maxBatch?: number }>(); // by weights hash + tensor
  const probeOf = async (an: Analysis, h: string, target: string) => {
    const key = `${h}:${target}`;
    let p = probed.get(key);
    if (!p) probed.set(key, (p = await probe(retarget(an, target, false), an.size, `${file} (output ${target})`)));
    return p;
  };
  const feat = await probeOf(a, hash, a.features);
  const refuse = (w?: WeightsOption) => {
    if (w?.weights) throw new Error(`${file}: --weights ${w.weights} does not apply to a model file (its weights are the file's)`);
  };
  const paramCount = a.model.graph.initializer.reduce((s, t) => s + t.dims.reduce((x, y) => x * y, 1), 0);
  const producer = a.model.producerName || 'unknown';
  const { size, features, nchw, outputs } = a;
  return {
    name: ref.name,
    arch: 'onnx',
    tag: ref.isUrl ? 'url' : 'file',
    preprocess: applyOverrides({ size, resize: 'center-crop', cropFraction: 0.875, mean: IMAGENET_MEAN, std: IMAGENET_STD }, ref.overrides),
    featureLayer: features,
    featureDim: feat.dims.slice(1).reduce((x, y) => x * y, 1),
    cutPoints: [],
    layers: [...outputs],
    frozenOnly: true,
    provenance: `your ONNX model ${ref.location} (producer ${producer}, ${nchw ? 'NCHW' : 'NHWC'} input), sha256 ${hash.slice(0, 12)}`,
    license: 'as given by the model’s source',
    bundled: false,
    async load() {
      throw new Error(`${file}: ${FROZEN_ONNX}`);
    },
    async weightsHash(w) {
      refuse(w);
      return hash;
    },
    async paramCount() {
      return paramCount;
    },
    async onnx(layer, w) {
      refuse(w);
      const now = readBytes(file); // re-read: the spec does not hold the file's bytes
      const nowHash = createHash('sha256').update(now).digest('hex');
      const an = analyze(now, file, ref);
      const target = tensorFor(an, layer, file);
      const { dims, maxBatch } = await probeOf(an, nowHash, target);
      return { bytes: retarget(an, target, an.nchw && dims.length === 4), weightsHash: nowHash, maxBatch };
    },
  };
}
