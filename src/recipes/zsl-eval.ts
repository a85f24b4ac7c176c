/**
 * `graft eval` of a zero-shot bundle (Xian et al. 2017's protocol). ZSL: the images of DATA are
 * classified among the classes present in DATA only; accuracy is reported per image and as the
 * per-class mean. With `gzsl` (a folder of test images of seen classes), both folders are
 * classified among every class of the bundle: S (seen) and U (unseen) per-class mean accuracy and
 * H = 2SU/(S+U), with the bundle's calibrated stacking in place.
 */
import { loadDataset } from '../data/index.js';
import type { LoadOptions, Sample } from '../data/types.js';
import type { EngineName } from '../models/types.js';
import { evaluateScores } from '../eval/metrics.js';
import type { ZeroShotHeadSpec } from '../bundle/bundle.js';
import { argmaxScores, harmonicMean, perClassMeanAccuracy } from '../strategies/zeroshot/gzsl.js';
import { Classifier } from './predict.js';
import type { EvalResult } from './evaluate.js';
import { silentReporter, type Reporter } from '../util/log.js';

export interface ZslEvalResult extends EvalResult {
  /** Mean over the folder's classes of each class's accuracy (among the folder's classes). */
  perClassMeanAccuracy: number;
  /** Chance level of that: 1 / classes in the folder. */
  chance: number;
  /** With --gzsl: per-class mean accuracy over every class of the bundle. */
  seen?: number;
  unseen?: number;
  h?: number;
  gzsl?: { seenData: string; seenImages: number; unseenImages: number; classes: number };
}

type Opts = LoadOptions & { engine?: EngineName; threads?: number; reporter?: Reporter; gzsl?: string };

async function folderRows(clf: Classifier, data: string, opts: Opts): Promise<{ samples: Sample[]; probs: Float32Array; y: number[]; present: string[]; skipped: { file: string; reason: string }[] }> {
  const ds = await loadDataset(data, { valPercent: 0, testPercent: 0, strict: opts.strict, limitPerClass: opts.limitPerClass, classes: opts.classes });
  const unknown = ds.labels.filter((l) => !clf.labels.includes(l));
  if (unknown.length) throw new Error(`${data}: classes not in the bundle's class table: ${unknown.join(', ')}`);
  const hasTest = ds.samples.some((s) => s.split === 'test');
  const samples = hasTest ? ds.samples.filter((s) => s.split === 'test') : ds.samples;
  const { probs, samples: used, skipped } = await clf.probabilities(samples, { reporter: opts.reporter ?? silentReporter, strict: opts.strict });
  return { samples: used, probs, y: used.map((s) => clf.labels.indexOf(ds.labels[s.label])), present: ds.labels, skipped: [...ds.skipped, ...skipped] };
}

export async function evaluateZeroShot(bundle: string, data: string, opts: Opts = {}): Promise<ZslEvalResult> {
  const clf = await Classifier.load(bundle, opts);
  try {
    const spec = clf.meta.head as ZeroShotHeadSpec;
    const k = clf.labels.length;
    const u = await folderRows(clf, data, opts);
    // ZSL: among the classes present in the folder only.
    const cols = u.present.map((l) => clf.labels.indexOf(l));
    const sub = new Float32Array(u.samples.length * cols.length);
    for (let i = 0; i < u.samples.length; i++) {
      let sum = 0;
      cols.forEach((c) => (sum += u.probs[i * k + c]));
      cols.forEach((c, j) => (sub[i * cols.length + j] = u.probs[i * k + c] / sum));
    }
    const yLocal = u.y.map((c) => cols.indexOf(c));
    const ev = evaluateScores(sub, yLocal, u.present);
    const res: ZslEvalResult = { bundle, data, ...ev, skipped: u.skipped, perClassMeanAccuracy: perClassMeanAccuracy(argmaxScores(sub, u.samples.length, cols.length), yLocal), chance: 1 / cols.length };
    if (opts.gzsl !== undefined) {
      const seenSet = new Set(spec.seen);
      const notUnseen = u.present.filter((l) => seenSet.has(l));
      if (notUnseen.length) throw new Error(`${data}: --gzsl scores this folder as the unseen classes, but ${notUnseen.join(', ')} had training images`);
      const s = await folderRows(clf, opts.gzsl, opts);
      const notSeen = s.present.filter((l) => !seenSet.has(l));
      if (notSeen.length) throw new Error(`${opts.gzsl}: --gzsl needs test images of seen classes, but ${notSeen.join(', ')} had no training images`);
      const acc = (r: { probs: Float32Array; y: number[] }) => perClassMeanAccuracy(argmaxScores(r.probs, r.y.length, k), r.y);
      res.seen = acc(s);
      res.unseen = acc(u);
      res.h = harmonicMean(res.seen, res.unseen);
      res.gzsl = { seenData: opts.gzsl, seenImages: s.samples.length, unseenImages: u.samples.length, classes: k };
      res.skipped.push(...s.skipped);
    }
    return res;
  } finally {
    await clf.dispose();
  }
}
