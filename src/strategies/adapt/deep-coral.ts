/**
 * Deep CORAL (Sun & Saenko 2016) as a Trainer objective: cross-entropy on the source batch plus
 * w·‖cov(h_s) − cov(h_t)‖²_F / (4d²) between the representations (the classifier's input) of the
 * source batch and an equally large target batch — the trained layers learn features whose
 * second-order statistics match across domains.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { Objective } from '../../train/objective.js';
import { coralLoss } from './coral.js';
import { representationAndLogits } from './dann.js';
import { TargetBatches, type TargetRows } from './target-batch.js';

export function deepCoralObjective(o: { target: TargetRows; weight?: number; seed?: number }): Objective {
  const weight = o.weight ?? 1;
  const seed = o.seed ?? 0;
  const batches = new TargetBatches(o.target, seed);
  return {
    name: 'deep-coral',
    fingerprint: { seed, weight, targetRows: o.target.n },
    beforeStep: (info) => batches.draw(info),
    end: () => batches.end(),
    loss: (b) => {
      const s = representationAndLogits(b.model as tfl.LayersModel, b.x, true);
      const t = representationAndLogits(b.model as tfl.LayersModel, batches.current, true);
      const ce = b.crossEntropy(s.logits, b.labels);
      const coral = coralLoss(s.h, t.h);
      return { loss: tf.add(ce, tf.mul(coral, weight)) as tf.Scalar, logits: s.logits, terms: { ce, coral } };
    },
  };
}
