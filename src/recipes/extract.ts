/** `graft extract`: the seed's "bottleneck" features of a folder, rows in sorted relative-path order. */
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Skipped } from '../data/types.js';
import { openBackbone } from '../models/backbone.js';
import { DEFAULT_BACKBONE } from '../models/registry.js';
import type { EngineName } from '../models/types.js';
import { extractFeatures } from '../features/extract.js';
import { encodeNpy } from '../util/npy.js';
import { writeFileAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';

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

export async function extractFolder(o: LoadOptions & { data: string; out: string; format?: FeatureFormat; backbone?: string; weights?: string; layer?: string; engine?: EngineName; threads?: number; reporter?: Reporter }): Promise<ExtractResult> {
  const format = o.format ?? 'npy';
  const ds = await loadDataset(o.data, { ...o, valPercent: 0, testPercent: 0 });
  const samples = [...ds.samples].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const backbone = await openBackbone(o.backbone ?? DEFAULT_BACKBONE, { engine: o.engine, threads: o.threads, layer: o.layer, weights: o.weights });
  try {
    const m = await extractFeatures(samples, backbone, { reporter: o.reporter ?? silentReporter, strict: o.strict });
    const files = m.samples.map((s) => s.id);
    const rowLabels = m.samples.map((s) => s.label);
    if (format === 'npy') writeFileAtomic(o.out, encodeNpy(m.data, [m.n, m.dim]));
    else if (format === 'json') {
      const rows = Array.from({ length: m.n }, (_, i) => Array.from(m.data.subarray(i * m.dim, (i + 1) * m.dim)));
      writeFileAtomic(o.out, JSON.stringify({ files, labels: ds.labels, rowLabels, features: rows }));
    } else {
      const lines = ['file,label,' + Array.from({ length: m.dim }, (_, j) => `f${j}`).join(',')];
      for (let i = 0; i < m.n; i++) lines.push(`${JSON.stringify(files[i])},${JSON.stringify(ds.labels[rowLabels[i]])},` + Array.from(m.data.subarray(i * m.dim, (i + 1) * m.dim)).join(','));
      writeFileAtomic(o.out, lines.join('\n') + '\n');
    }
    return { out: o.out, format, backbone: backbone.spec.name, layer: backbone.layer, dim: m.dim, n: m.n, files, labels: ds.labels, rowLabels, skipped: [...ds.skipped, ...m.skipped], features: { computed: m.computed, cached: m.cached } };
  } finally {
    await backbone.dispose();
  }
}
