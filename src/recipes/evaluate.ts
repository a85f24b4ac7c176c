/** `graft eval`: a bundle against a labelled folder (its test split when it has one). */
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Skipped } from '../data/types.js';
import type { EngineName } from '../models/types.js';
import { evaluateScores, type Evaluation } from '../eval/metrics.js';
import { Classifier } from './predict.js';
import { readBundleMeta } from '../bundle/bundle.js';
import { silentReporter, type Reporter } from '../util/log.js';

export interface EvalResult extends Evaluation {
  bundle: string;
  data: string;
  skipped: Skipped[];
}

/**
 * A zero-shot bundle is scored by its own protocol (src/recipes/zsl-eval.ts): among the classes
 * present in `data`, and with `gzsl` (seen-class test images) S, U and H over all classes.
 */
export async function evaluateBundle(bundle: string, data: string, opts: LoadOptions & { engine?: EngineName; threads?: number; reporter?: Reporter; gzsl?: string } = {}): Promise<EvalResult> {
  const reporter = opts.reporter ?? silentReporter;
  if (readBundleMeta(bundle).head.kind === 'zeroshot') return (await import('./zsl-eval.js')).evaluateZeroShot(bundle, data, opts);
  if (opts.gzsl !== undefined) throw new Error(`${bundle}: --gzsl needs a zero-shot bundle (graft zeroshot)`);
  const clf = await Classifier.load(bundle, opts);
  try {
    // A folder given for evaluation is all test data unless it has its own split folders.
    const ds = await loadDataset(data, { valPercent: 0, testPercent: 0, classes: opts.classes, strict: opts.strict, limitPerClass: opts.limitPerClass });
    const unknown = ds.labels.filter((l) => !clf.labels.includes(l));
    if (unknown.length) throw new Error(`${data}: classes not in the bundle: ${unknown.join(', ')} (bundle labels: ${clf.labels.join(', ')})`);
    const hasTest = ds.samples.some((s) => s.split === 'test');
    const samples = hasTest ? ds.samples.filter((s) => s.split === 'test') : ds.samples;
    // A sound model scores a long sound by the mean of its sliding windows, as `predict` does.
    const { probs, samples: used, skipped } = await clf.windowedProbabilities(samples, { reporter, strict: opts.strict });
    const y = used.map((s) => clf.labels.indexOf(ds.labels[s.label]));
    const ev = evaluateScores(probs, y, clf.labels);
    return { bundle, data, ...ev, skipped: [...ds.skipped, ...skipped] };
  } finally {
    await clf.dispose();
  }
}
