/** A finished run (RunResult) + its dataset's samples → the input of `writeRunReport`. */
import type { Sample } from '../data/types.js';
import type { RunResult } from '../recipes/run.js';
import { formatNumber, percent } from './format.js';
import type { MisclassifiedSample, ReportStage, RunKind, RunReportInput } from './html.js';

export interface RunReportOptions {
  kind: RunKind;
  /** Default: "graft <kind> → <bundle>". */
  title?: string;
  /** Training configuration; default the result's `head` and `tail` fields, when present. */
  config?: Record<string, unknown>;
  /** Extra summary rows, shown after the standard ones. */
  summary?: Record<string, string | number>;
  /** How many misclassified test images to show (default 24). */
  maxMisclassified?: number;
  /** What one history entry is; default 'L-BFGS iteration' for an L-BFGS head, else 'epoch'. */
  stepName?: string;
  stages?: ReportStage[];
}

/** Misclassified test images, most confident mistake first (argmax ties go to the lower index, as in evaluateScores). */
export function misclassifiedSamples(
  tp: { ids: string[]; probs: Float32Array },
  labels: string[],
  samples: readonly Sample[],
): MisclassifiedSample[] {
  const k = labels.length;
  if (tp.probs.length !== tp.ids.length * k) throw new Error(`test probabilities hold ${tp.probs.length} values, expected ${tp.ids.length}×${k}`);
  const byId = new Map(samples.map((s) => [s.id, s]));
  const out: MisclassifiedSample[] = [];
  tp.ids.forEach((id, i) => {
    const s = byId.get(id);
    if (!s) throw new Error(`test sample ${id} is not among the ${samples.length} dataset samples given`);
    const row = tp.probs.subarray(i * k, (i + 1) * k);
    let pred = 0;
    for (let j = 1; j < k; j++) if (row[j] > row[pred]) pred = j;
    if (pred !== s.label) out.push({ id, load: () => s.load(), kind: s.kind, raw: s.raw, trueLabel: labels[s.label], predLabel: labels[pred], prob: row[pred] });
  });
  return out.sort((a, b) => b.prob - a.prob);
}

/** The standard summary rows of a run: backbone, data, features, metrics, timings. */
export function runSummary(r: RunResult): Record<string, string | number> {
  const s: Record<string, string | number> = {
    backbone: `${r.backbone.name} (${r.backbone.layer}, ${r.backbone.dim}-d, ${r.backbone.engine})`,
    classes: r.labels.length,
    'images used': r.data.used,
    'train / val / test': `${r.data.train} / ${r.data.val} / ${r.data.test}`,
    'skipped files': r.data.skipped.length,
    'features computed / cached': `${r.features.computed} / ${r.features.cached}`,
    'backbone forward passes': r.features.forwardPasses,
  };
  if (r.val) s['val accuracy'] = `${percent(r.val.accuracy)} (macro F1 ${r.val.macroF1.toFixed(3)})`;
  if (r.test) s['test accuracy'] = `${percent(r.test.accuracy)} (macro F1 ${r.test.macroF1.toFixed(3)})`;
  s['history entries'] = r.history.length;
  s['features time (s)'] = formatNumber(r.features.seconds);
  s['training time of the history (s)'] = formatNumber(r.history.reduce((a, h) => a + h.seconds, 0));
  s['total time (s)'] = formatNumber(r.seconds);
  s['peak RSS (MB)'] = r.peakRssMB;
  s.bundle = r.bundle;
  return s;
}

/** Everything `writeRunReport` needs, from a recipe's result and the samples of its dataset. */
export function runReportInput(
  r: RunResult & { head?: { optimizer?: string } | { kind: string }; tail?: object },
  samples: readonly Sample[],
  o: RunReportOptions,
): RunReportInput {
  const wrong = r.testProbabilities ? misclassifiedSamples(r.testProbabilities, r.labels, samples) : undefined;
  const config = o.config ?? { ...(r.head ? { head: r.head } : {}), ...(r.tail ? { tail: r.tail } : {}) };
  const optimizer = (o.config?.optimizer as string | undefined) ?? (r.head && 'optimizer' in r.head ? r.head.optimizer : undefined);
  return {
    title: o.title ?? `graft ${o.kind} → ${r.bundle}`,
    kind: o.kind,
    summary: { ...runSummary(r), ...o.summary },
    config,
    history: r.history,
    stepName: o.stepName ?? (optimizer === 'lbfgs' ? 'L-BFGS iteration' : 'epoch'),
    val: r.val,
    test: r.test,
    misclassified: wrong?.slice(0, o.maxMisclassified ?? 24),
    misclassifiedTotal: wrong?.length,
    labels: r.labels,
    stages: o.stages,
  };
}
