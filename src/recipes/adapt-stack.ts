/**
 * Stacked methods of `graft adapt`: compositions of the single methods, no new loop. Self-training
 * starts from another method's head (its first pseudo-labels) and keeps that method's view of the
 * source (CORAL: the re-coloured rows), so "coral+self-train" is CBST on CORAL-aligned features and
 * "dann+self-train" is CBST seeded by DANN's predictions. The AdaBN stacks (adabn+coral, …) run
 * these same functions on the features of the re-estimated networks (adapt-adabn.ts).
 */
import { coral, dann, selfTrain, sourceOnly, type AdaptContext, type MethodFit, type MethodSettings } from './adapt-methods.js';

export const FEATURE_METHODS = ['source-only', 'coral', 'dann', 'self-train', 'coral+self-train', 'dann+self-train'] as const;
export type FeatureMethod = (typeof FEATURE_METHODS)[number];

/** Earlier fits of the same run a stack may start from (not owned by the stack). */
export type PriorFits = Partial<Record<string, MethodFit>>;

/**
 * Self-training seeded by `base` (a fit of the same context), on the source rows as `base` saw them.
 * Its linear heads keep `weightDecay` (default: base's, unless base is no linear head).
 */
async function selfTrainFrom(c: AdaptContext, s: MethodSettings, base: MethodFit, weightDecay?: number): Promise<MethodFit> {
  const view: AdaptContext = { ...c, train: base.trainView ?? c.train, val: base.valView, head: { ...c.head, weightDecay: c.head.weightDecay ?? weightDecay } };
  const fit = await selfTrain(view, s, base);
  // The heads take source rows as base saw them: CORAL's re-coloured rows are this method's representation; DANN's seed leaves linear heads on the backbone's.
  return { ...fit, trainView: base.trainView, represent: base.trainView ? base.represent : undefined, details: { ...fit.details, start: base.details } };
}

/** A fit of `first` for the stack: the run's own when it has one, else a private one disposed after use. */
async function withBase(c: AdaptContext, s: MethodSettings, first: 'coral' | 'dann', prior: PriorFits, then: (base: MethodFit) => Promise<MethodFit>): Promise<MethodFit> {
  const own = prior[first];
  const base = own ?? (first === 'coral' ? await coral(c, s) : await dann(c, s));
  try {
    return await then(base);
  } finally {
    if (!own) {
      base.model.dispose();
      base.release?.();
    }
  }
}

/** Fit one frozen-feature method (single or stacked) on a context; `prior` holds the run's earlier fits on the same context. */
export async function fitFeatureMethod(m: FeatureMethod, c: AdaptContext, s: MethodSettings, prior: PriorFits = {}): Promise<MethodFit> {
  switch (m) {
    case 'source-only':
      return sourceOnly(c);
    case 'coral':
      return coral(c, s);
    case 'dann':
      return dann(c, s);
    case 'self-train':
      return selfTrain(c, s, prior['source-only']); // starts from the source-only head when the run trained it
    case 'coral+self-train':
      return withBase(c, s, 'coral', prior, (b) => selfTrainFrom(c, s, b));
    case 'dann+self-train':
      return withBase(c, s, 'dann', prior, (b) => selfTrainFrom(c, s, b, prior['source-only']?.training.weightDecay as number | undefined));
  }
}
