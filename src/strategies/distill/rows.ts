/**
 * The student's training rows for `graft distill`: labelled images and the unlabelled transfer
 * set through the student's input side (pixels, frozen features, or cut activations — any
 * Backbone), cached in the feature store. With augmented views the rows come from the cached
 * views (src/train/augment-source.ts), one view per image per epoch; `pick` says which, so the
 * KD objective reads the teacher's logits for the same view. Transfer-set rows have label −1.
 */
import type { Backbone } from '../../models/types.js';
import type { Sample } from '../../data/types.js';
import { extractFeatures } from '../../features/extract.js';
import { augmentedSource } from '../../train/augment-source.js';
import type { Rows } from '../../train/trainer.js';
import type { Reporter } from '../../util/log.js';

export interface StudentRows {
  rows: Rows;
  /** The samples behind the rows, in row order (unreadable files left out, with a warning). */
  samples: Sample[];
  views: string[];
  /** Index into `views` of the view row `i` reads at training epoch `epoch` (several views only). */
  pick?: (i: number, epoch: number) => number;
  close(): void;
}

export async function studentRows(samples: Sample[], unlabelled: ReadonlySet<Sample>, backbone: Backbone, views: readonly string[], o: { seed: number; reporter: Reporter; strict?: boolean }): Promise<StudentRows> {
  const label = (s: Sample) => (unlabelled.has(s) ? -1 : s.label);
  if (views.length === 1 && views[0] === 'none') {
    const m = await extractFeatures(samples, backbone, { reporter: o.reporter, strict: o.strict });
    for (const s of m.skipped) o.reporter.warn(`skipped ${s.file}: ${s.reason}`);
    return { rows: { x: m.data, y: Int32Array.from(m.samples, label), n: m.n, dim: m.dim }, samples: m.samples, views: ['none'], close: () => undefined };
  }
  const src = await augmentedSource(samples, backbone, { views, seed: o.seed, reporter: o.reporter, strict: o.strict });
  for (const s of src.skipped) o.reporter.warn(`skipped ${s.file}: ${s.reason}`);
  const y = Int32Array.from(src.samples, label);
  return {
    rows: { n: src.n, dim: src.dim, y, rows: (idx, epoch) => src.rows(idx, epoch) },
    samples: src.samples,
    views: [...src.views],
    pick: (i, epoch) => src.pick(i, epoch),
    close: () => src.close(),
  };
}

/** Epochs that give a run on `n` rows about as many optimizer steps as `steps`. */
export function epochsForSteps(steps: number, n: number, batchSize: number): number {
  return Math.max(1, Math.round(steps / Math.ceil(n / Math.min(batchSize, n))));
}
