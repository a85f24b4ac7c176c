/**
 * The rows of a two-domain run (`adapt`, `disentangle`): the unlabelled target's features through
 * the run's backbone, and labelled target rows for evaluation only — `--target-test`, else the
 * target's own class folders (said loudly: their names never reach training).
 */
import { loadDataset } from '../data/index.js';
import type { Dataset } from '../data/types.js';
import { extractFeatures } from '../features/extract.js';
import type { FeatureRun, RunOptions } from './run.js';

export interface DomainOptions extends Pick<RunOptions, 'strict' | 'limitPerClass'> {
  /** Target images: a flat folder, or class folders whose names are ignored for training. */
  target: string;
  /** Labelled target images, for evaluation only. */
  targetTest?: string;
}

/** Target label indices in the source's label order; names the source lacks are an error. */
function mapLabels(ds: Dataset, sourceLabels: string[], what: string): Int32Array {
  const unknown = ds.labels.filter((l) => !sourceLabels.includes(l));
  if (unknown.length) throw new Error(`${what}: class folders the source does not have: ${unknown.join(', ')} (source classes: ${sourceLabels.join(', ')})`);
  return Int32Array.from(ds.samples, (s) => sourceLabels.indexOf(ds.labels[s.label]));
}

const kind = (ds: Dataset) => (ds.audio ? 'sounds' : 'images');

/** Both domains must reach the backbone through the same input path (images, or sounds through one front-end). */
export function checkSameKind(run: FeatureRun, ds: Dataset, folder: string, what: string): void {
  if (kind(run.ds) !== kind(ds)) throw new Error(`${what} ${folder} holds ${kind(ds)} but the source holds ${kind(run.ds)}: both domains must be the same kind of input`);
}

export async function targetRows(o: DomainOptions, run: FeatureRun) {
  const ds = await loadDataset(o.target, { unlabelled: true, valPercent: 0, testPercent: 0, strict: o.strict, limitPerClass: o.limitPerClass });
  checkSameKind(run, ds, o.target, '--target');
  for (const s of ds.skipped) run.reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const m = await extractFeatures(ds.samples, run.backbone, { reporter: run.reporter, strict: o.strict });
  for (const s of m.skipped) run.reporter.warn(`skipped ${s.file}: ${s.reason}`);
  if (m.n < 2) throw new Error(`${o.target}: the target needs at least 2 readable images, found ${m.n}`);
  return { ds, m, skipped: [...ds.skipped, ...m.skipped] };
}

/** Labelled target rows for evaluation: --target-test, else the target's own class folders. */
export async function evaluationRows(o: DomainOptions, run: FeatureRun, t: Awaited<ReturnType<typeof targetRows>>) {
  const labels = run.ds.labels;
  if (o.targetTest) {
    const ds = await loadDataset(o.targetTest, { valPercent: 0, testPercent: 0, strict: o.strict });
    checkSameKind(run, ds, o.targetTest, '--target-test');
    const y0 = mapLabels(ds, labels, o.targetTest);
    const m = await extractFeatures(ds.samples, run.backbone, { reporter: run.reporter, strict: o.strict });
    const y = Int32Array.from(m.samples, (s) => y0[ds.samples.indexOf(s)]);
    return { kind: 'target-test' as const, x: m.data, y, n: m.n, samples: m.samples };
  }
  if (t.ds.labels.length >= 2) {
    run.reporter.warn(`NOTE: ${o.target} has class folders (${t.ds.labels.join(', ')}): their names are IGNORED for training and used ONLY to report target accuracy (oracle numbers)`);
    const y0 = mapLabels(t.ds, labels, o.target);
    const y = Int32Array.from(t.m.samples, (s) => y0[t.ds.samples.indexOf(s)]);
    return { kind: 'target-folders' as const, x: t.m.data, y, n: t.m.n, samples: t.m.samples };
  }
  return undefined;
}

