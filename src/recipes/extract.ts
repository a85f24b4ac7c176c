/** `graft extract`: the seed's "bottleneck" features of a folder, rows in sorted relative-path order. */
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Skipped } from '../data/types.js';
import { openBackbone } from '../models/backbone.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import type { EngineName } from '../models/types.js';
import { extractFeatures } from '../features/extract.js';
import fs from 'node:fs';
import { decodeNpy, encodeNpy } from '../util/npy.js';
import { writeFileAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { mark, timed, timedAsync } from '../util/profile.js';

export type FeatureFormat = 'npy' | 'json' | 'csv';

export interface ExtractResult {
  out: string;
  format: FeatureFormat;
  backbone: string;
  layer: string;
  dim: number;
  n: number;
  files: string[];
  labels: string[];
  /** Class index of each row. */
  rowLabels: number[];
  skipped: Skipped[];
  features: { computed: number; cached: number };
}

/**
 * Run a backbone on an already-preprocessed float32 tensor `[N,H,W,3]` from a .npy file (no
 * resizing, no normalising): the way to check parity with another framework from the shell.
 */
export async function extractTensor(o: { tensor: string; out: string; format?: FeatureFormat; backbone?: string; weights?: string; layer?: string; engine?: EngineName; threads?: number; batchSize?: number }): Promise<ExtractResult> {
  const format = o.format ?? 'npy';
  let arr;
  try {
    arr = decodeNpy(fs.readFileSync(o.tensor), o.tensor);
  } catch (e) {
    throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${o.tensor}: no such file` : (e as Error).message);
  }
  if (!(arr.data instanceof Float32Array) || arr.shape.length !== 4 || arr.shape[3] !== 3) {
    throw new Error(`${o.tensor}: expected a float32 array [N,H,W,3], got ${arr.data.constructor.name} [${arr.shape.join(',')}]`);
  }
  const [n, h, w] = arr.shape;
  const backbone = await openBackbone(o.backbone ?? DEFAULT_BACKBONE, { engine: o.engine, threads: o.threads, layer: o.layer, weights: o.weights });
  try {
    const [eh, ew] = backbone.spec.preprocess.size;
    if (h !== eh || w !== ew) throw new Error(`${o.tensor}: ${backbone.spec.name} takes ${eh}×${ew} inputs, the tensor is ${h}×${w}`);
    const per = h * w * 3;
    const bs = o.batchSize ?? 16;
    const out = new Float32Array(n * backbone.dim);
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      out.set(await backbone.extract(arr.data.subarray(s * per, (s + m) * per), m), s * backbone.dim);
    }
    writeRows(o.out, format, out, n, backbone.dim, [], [], []);
    return { out: o.out, format, backbone: backbone.spec.name, layer: backbone.layer, dim: backbone.dim, n, files: [], labels: [], rowLabels: [], skipped: [], features: { computed: n, cached: 0 } };
  } finally {
    await backbone.dispose();
  }
}

/** Write n×dim rows as .npy, JSON or CSV (atomically). */
function writeRows(out: string, format: FeatureFormat, data: Float32Array, n: number, dim: number, files: string[], labels: string[], rowLabels: number[]): void {
  if (format === 'npy') writeFileAtomic(out, encodeNpy(data, [n, dim]));
  else if (format === 'json') {
    const rows = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * dim, (i + 1) * dim)));
    writeFileAtomic(out, JSON.stringify({ files, labels, rowLabels, features: rows }));
  } else {
    const lines = ['file,label,' + Array.from({ length: dim }, (_, j) => `f${j}`).join(',')];
    for (let i = 0; i < n; i++) lines.push(`${JSON.stringify(files[i] ?? String(i))},${JSON.stringify(labels[rowLabels[i]] ?? '')},` + Array.from(data.subarray(i * dim, (i + 1) * dim)).join(','));
    writeFileAtomic(out, lines.join('\n') + '\n');
  }
}

export async function extractFolder(o: LoadOptions & { data: string; out: string; format?: FeatureFormat; backbone?: string; weights?: string; layer?: string; engine?: EngineName; threads?: number; reporter?: Reporter }): Promise<ExtractResult> {
  mark('startup');
  const format = o.format ?? 'npy';
  const ds = await timedAsync('list', () => loadDataset(o.data, { ...o, valPercent: 0, testPercent: 0, unlabelled: true }));
  const samples = [...ds.samples].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const backbone = await timedAsync('open', () => openBackbone(o.backbone ?? DEFAULT_BACKBONE, { engine: o.engine, threads: o.threads, layer: o.layer, weights: o.weights }));
  try {
    const m = await extractFeatures(samples, backbone, { reporter: o.reporter ?? silentReporter, strict: o.strict });
    const files = m.samples.map((s) => s.id);
    const rowLabels = m.samples.map((s) => s.label);
    timed('write', () => writeRows(o.out, format, m.data, m.n, m.dim, files, ds.labels, rowLabels));
    return { out: o.out, format, backbone: backbone.spec.name, layer: backbone.layer, dim: m.dim, n: m.n, files, labels: ds.labels, rowLabels, skipped: [...ds.skipped, ...m.skipped], features: { computed: m.computed, cached: m.cached } };
  } finally {
    await backbone.dispose();
  }
}
