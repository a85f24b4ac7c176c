/**
 * `graft cluster`: a folder of images (flat, or an ImageFolder whose labels are then used only to
 * score) → backbone features from the feature store → k-means or Ward clusters (src/strategies/
 * cluster/) → clusters.json, report.html and optionally one folder per cluster to rename and train on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Sample, Skipped } from '../data/types.js';
import { extractFeatures } from '../features/extract.js';
import { openBackboneSpec } from '../models/backbone.js';
import type { EngineName } from '../models/types.js';
import { writeClusterReport } from '../report/cluster.js';
import { formatNumber, percent } from '../report/format.js';
import { autoRange, clusterFolderName, clusterRows, scoreAgainstLabels, writeClusterFolders, type ClusterMethod, type ClusterRowsOptions, type ClusterRowsResult, type FolderResult, type KScore, type LabelScores } from '../strategies/cluster/index.js';
import { fitPca, transformPca } from '../strategies/cluster/pca.js';
import { writeFileAtomic } from '../util/fs.js';
import { rng, shuffle } from '../util/rng.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { runSpec } from './run.js';

/** The clustering options (k, method, PCA, restarts, seed, …) are clusterRows'; the rest is data, output and backbone. */
export interface ClusterOptions extends Pick<LoadOptions, 'classes' | 'limitPerClass' | 'strict'>, Omit<ClusterRowsOptions, 'progress'> {
  data: string;
  /** clusters.json, report.html (+ plots) and, with writeFolders, folders/. Without it: results only. */
  out?: string;
  writeFolders?: boolean;
  /** --write-folders: copy files instead of hard-linking them. */
  copy?: boolean;
  /** Thumbnails per cluster in the report (default 12). */
  thumbs?: number;
  backbone?: string;
  weights?: string;
  from?: string;
  engine?: EngineName;
  threads?: number;
  reporter?: Reporter;
}

export interface ClusterResult {
  k: number;
  method: ClusterMethod;
  assignments: { file: string; cluster: number }[];
  /** Against the folder labels (null without at least two label folders). */
  nmi: number | null;
  ari: number | null;
  accuracy: number | null;
  /** Folder labels, when there are at least two. */
  labels: string[] | null;
  clusters: { cluster: number; name: string; size: number; majority?: string; purity?: number; matched?: string | null }[];
  silhouette: number;
  /** --k auto: every k tried. */
  scores?: KScore[];
  backbone: { name: string; layer: string; dim: number; engine: EngineName };
  features: { n: number; computed: number; cached: number; forwardPasses: number; clusteredDim: number; pca: number | null; whiten: boolean; explainedVariance?: number };
  /** Wall times: feature extraction (or cache reads), clustering (normalise, PCA, k search, scores), report and folders. */
  seconds: { features: number; cluster: number; output: number; total: number };
  skipped: Skipped[];
  out?: string;
  report?: string;
  folders?: FolderResult;
}

/** At most `max` row indices (seeded, sorted) for the scatter plot. */
function scatterRows(n: number, max: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return idx;
  shuffle(idx, rng((seed ^ 0x2545f491) >>> 0));
  return idx.slice(0, max).sort((a, b) => a - b);
}

/** report.html: scatter on the first two principal components of the clustered rows, thumbnails per cluster. */
async function writeReport(o: ClusterOptions, res: ClusterResult, c: ClusterRowsResult, samples: Sample[], truthNames: string[] | null) {
  const rows = scatterRows(samples.length, 3000, o.seed ?? 0);
  const sub = new Float32Array(rows.length * c.dim);
  rows.forEach((r, i) => sub.set(c.rows.subarray(r * c.dim, (r + 1) * c.dim), i * c.dim));
  const dims = Math.min(2, c.dim, rows.length);
  const p = fitPca(sub, rows.length, c.dim, dims, { seed: o.seed });
  const xy = transformPca(p, sub, rows.length);
  const pc = (j: number) => Float32Array.from(rows, (_, i) => (j < dims ? xy[i * dims + j] : 0));
  const summary: Record<string, string | number> = {
    images: res.features.n,
    method: res.method,
    k: o.k === 'auto' ? `${res.k} (best silhouette over ${res.scores![0].k}…${res.scores!.at(-1)!.k})` : res.k,
    silhouette: +res.silhouette.toFixed(4),
    backbone: `${res.backbone.name} (${res.backbone.layer}, ${res.backbone.dim}-d, ${res.backbone.engine})`,
    'rows clustered': `L2-normalised${res.features.pca !== null ? `, PCA to ${res.features.pca}${res.features.whiten ? ' whitened + L2' : ''} (${percent(res.features.explainedVariance ?? 0)} of variance)` : ''}`,
    'features computed / cached': `${res.features.computed} / ${res.features.cached}`,
    ...(res.nmi !== null ? { NMI: +res.nmi.toFixed(4), ARI: +res.ari!.toFixed(4), 'Hungarian-matched accuracy': percent(res.accuracy!) } : {}),
    'features time (s)': formatNumber(res.seconds.features),
    'clustering time (s)': formatNumber(res.seconds.cluster),
    'skipped files': res.skipped.length,
    ...(res.folders ? { folders: `${res.folders.dir} (${res.folders.linked} linked, ${res.folders.copied} copied, ${res.folders.encoded} written as PNG)` } : {}),
  };
  const per = o.thumbs ?? 12;
  return writeClusterReport(o.out!, {
    title: `graft cluster ${o.data}`,
    summary,
    names: res.clusters.map((x) => x.name),
    sizes: c.sizes,
    labelled: truthNames ? res.clusters.map((x) => ({ majority: x.majority!, purity: x.purity!, matched: x.matched ?? null })) : undefined,
    scores: res.scores,
    chosenK: res.k,
    scatter: { xs: pc(0), ys: pc(1), clusters: Int32Array.from(rows, (r) => c.labels[r]), explained: [p.variances[0] / p.totalVariance, dims > 1 ? p.variances[1] / p.totalVariance : 0] },
    thumbs: c.members.map((m) => m.slice(0, per).map((i) => ({ ...samples[i], caption: truthNames?.[samples[i].label] }))),
  });
}

/** `--out` must not sit inside DATA (its folders would become data on the next run). */
function checkOut(o: ClusterOptions): void {
  if (o.writeFolders && !o.out) throw new Error('--write-folders needs --out DIR (the folders go to DIR/folders/)');
  if (!o.out) return;
  const rel = path.relative(path.resolve(o.data), path.resolve(o.out));
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) throw new Error(`--out ${o.out} is inside ${o.data}: pick a folder outside the images`);
}

/** Cluster the images of `o.data` (see the module comment). */
export async function clusterRecipe(o: ClusterOptions): Promise<ClusterResult> {
  const t0 = performance.now();
  const reporter = o.reporter ?? silentReporter;
  checkOut(o);
  if (o.k !== 'auto' && !(Number.isInteger(o.k) && o.k >= 2)) throw new Error(`--k must be auto or an integer ≥ 2, got ${o.k}`);
  if (o.k === 'auto' && o.kRange) autoRange(Infinity, o.kRange); // a malformed range fails before any backbone work
  const ds = await loadDataset(o.data, { classes: o.classes, limitPerClass: o.limitPerClass, strict: o.strict, unlabelled: true, valPercent: 0, testPercent: 0 });
  for (const s of ds.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (ds.samples.length === 0) throw new Error(`${o.data}: no images to cluster`);
  if (o.k !== 'auto' && ds.samples.length < o.k) throw new Error(`${o.data}: ${ds.samples.length} image${ds.samples.length === 1 ? '' : 's'}, fewer than --k ${o.k}`);
  const backbone = await openBackboneSpec(await runSpec(o), { engine: o.engine, threads: o.threads, weights: o.weights });
  try {
    reporter.info(`${ds.samples.length} images${ds.labels.length > 1 ? ` in ${ds.labels.length} label folders` : ''}; backbone ${backbone.spec.name} to ${backbone.layer} on ${backbone.engine}`);
    const tf0 = performance.now();
    const m = await extractFeatures(ds.samples, backbone, { reporter, strict: o.strict });
    const featureSeconds = (performance.now() - tf0) / 1000;
    for (const s of m.skipped) reporter.warn(`skipped ${s.file}: ${s.reason}`);
    reporter.info(`features: ${m.computed} computed, ${m.cached} from cache (${featureSeconds.toFixed(1)} s)`);
    const tc0 = performance.now();
    const c = clusterRows(m.data, m.n, m.dim, { ...o, progress: reporter.progress });
    const truthNames = ds.labels.length > 1 ? ds.labels : null;
    const scores: LabelScores | null = truthNames ? scoreAgainstLabels(Int32Array.from(m.samples, (s) => s.label), c.labels, c.k) : null;
    const clusterSeconds = (performance.now() - tc0) / 1000;
    reporter.info(`${c.method}: k = ${c.k}, silhouette ${c.silhouette.toFixed(3)}${scores ? `; NMI ${scores.nmi.toFixed(3)}, ARI ${scores.ari.toFixed(3)}, accuracy ${percent(scores.accuracy)}` : ''} (${clusterSeconds.toFixed(1)} s)`);
    const res: ClusterResult = {
      k: c.k,
      method: c.method,
      assignments: m.samples.map((s, i) => ({ file: s.id, cluster: c.labels[i] })),
      nmi: scores?.nmi ?? null,
      ari: scores?.ari ?? null,
      accuracy: scores?.accuracy ?? null,
      labels: truthNames,
      clusters: c.sizes.map((size, i) => {
        const p = scores?.perCluster[i];
        return { cluster: i, name: clusterFolderName(i, c.k), size, ...(p && truthNames ? { majority: truthNames[p.majority], purity: p.purity, matched: p.matched === null ? null : truthNames[p.matched] } : {}) };
      }),
      silhouette: c.silhouette,
      ...(c.scores ? { scores: c.scores } : {}),
      backbone: { name: backbone.spec.name, layer: backbone.layer, dim: backbone.dim, engine: backbone.engine },
      features: { n: m.n, computed: m.computed, cached: m.cached, forwardPasses: backbone.forwardCount, clusteredDim: c.dim, pca: c.pca, whiten: c.pca !== null && o.whiten !== false, ...(c.explainedVariance !== undefined ? { explainedVariance: c.explainedVariance } : {}) },
      seconds: { features: featureSeconds, cluster: clusterSeconds, output: 0, total: 0 },
      skipped: [...ds.skipped, ...m.skipped],
    };
    if (o.out) {
      const to0 = performance.now();
      if (o.writeFolders) {
        res.folders = await writeClusterFolders(path.join(o.out, 'folders'), ds.root, m.samples, c.labels, c.k, { copy: o.copy });
        reporter.info(`folders: ${res.folders.dir} (${res.folders.linked} linked, ${res.folders.copied} copied, ${res.folders.encoded} written as PNG)`);
      }
      res.out = o.out;
      res.report = (await writeReport(o, res, c, m.samples, truthNames)).html;
      res.seconds.output = (performance.now() - to0) / 1000;
    }
    res.seconds.total = (performance.now() - t0) / 1000;
    if (o.out) {
      fs.mkdirSync(o.out, { recursive: true });
      writeFileAtomic(path.join(o.out, 'clusters.json'), JSON.stringify(res, null, 1) + '\n');
    }
    return res;
  } finally {
    await backbone.dispose();
  }
}
