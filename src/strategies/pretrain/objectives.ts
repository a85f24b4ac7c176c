/**
 * Self-supervised objectives for the one Trainer (`graft pretrain`), on rows of cached augmented
 * views (src/train/augment-source.ts). The Trainer's model is the representation being adapted
 * (cut activations → the backbone's pooled features); each objective brings its own small
 * network in `modules`, trained with it and dropped afterwards:
 *
 * - SimCLR (Chen et al. 2020): every batch row is read in the view the Trainer picked for it and,
 *   in `beforeStep`, in a second, different view; a projection MLP (Dense → ReLU → Dense) maps
 *   both to the space where NT-Xent (./ntxent.ts) pulls the pairs together.
 * - Rotation prediction (Gidaris et al. 2018): the views are the image turned by 0/90/180/270°;
 *   a linear classifier on the representation predicts which.
 *
 * The training rows carry no labels (−1): the Trainer's accuracy reads 0 and the objective's own
 * accuracy (contrastive top-1, rotation accuracy) is logged as a term.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { AugmentView } from '../../data/augment.js';
import { quarterTurns } from '../../data/augment.js';
import type { Objective, StepInfo } from '../../train/objective.js';
import type { AugmentedSource } from '../../train/augment-source.js';
import { otherView } from '../../train/augment-source.js';
import { ntXent } from './ntxent.js';
import { tfSeed } from '../../util/rng.js';

export interface SimclrOptions {
  source: AugmentedSource;
  /** Width of the representation (the model's output). */
  dim: number;
  /** NT-Xent temperature τ (default 0.2). */
  temperature?: number;
  /** Projection MLP: hidden width (default 512) and output width (default 128). */
  hidden?: number;
  projection?: number;
  seed?: number;
}

/** SimCLR's projection head g(·): Dense → ReLU → Dense (dropped after pretraining). */
export function projectionHead(dim: number, hidden: number, out: number, seed: number): tfl.Sequential {
  const g = tfl.sequential({ name: 'projection' });
  g.add(tfl.layers.dense({ inputShape: [dim], units: hidden, activation: 'relu', name: 'proj_hidden', kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed(seed + 11) }) }));
  g.add(tfl.layers.dense({ units: out, name: 'proj_out', kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed(seed + 12) }) }));
  return g;
}

export function simclrObjective(o: SimclrOptions): Objective {
  const v = o.source.views.length;
  if (v < 2) throw new Error(`SimCLR needs at least 2 views per image (got ${v}: ${o.source.views.join(', ')})`);
  const tau = o.temperature ?? 0.2;
  const hidden = o.hidden ?? 512;
  const out = o.projection ?? 128;
  const seed = o.seed ?? 0;
  const g = projectionHead(o.dim, hidden, out, seed);
  let second: Float32Array | undefined;
  return {
    name: 'simclr',
    modules: [g],
    fingerprint: { temperature: tau, hidden, projection: out, views: o.source.views.join(',') },
    async beforeStep(info: StepInfo) {
      const viewOf = Array.from(info.idx, (i) => otherView(i, info.epoch, o.source.pick(i, info.epoch), v, seed));
      second = await o.source.rowsInViews(info.idx, viewOf);
    },
    end() {
      second = undefined;
    },
    loss(batch) {
      const m = batch.idx.length;
      if (!second || second.length !== m * batch.x.shape[1]) throw new Error('SimCLR: the second view of the batch was not fetched');
      const h1 = batch.model.apply(batch.x, { training: true }) as tf.Tensor2D;
      const h2 = batch.model.apply(tf.tensor2d(second, [m, batch.x.shape[1]]), { training: true }) as tf.Tensor2D;
      const z1 = g.apply(h1, { training: true }) as tf.Tensor2D;
      const z2 = g.apply(h2, { training: true }) as tf.Tensor2D;
      const { loss, top1 } = ntXent(z1, z2, tau);
      return { loss, logits: h1, terms: { ntxent: loss, top1 } };
    },
  };
}

/** The rotation class (0..3 quarter turns) of each view; every view must be `none` or a rotation. */
export function rotationClasses(views: readonly AugmentView[]): number[] {
  const q = views.map((v) => (v === 'none' ? 0 : quarterTurns(v) || -1));
  const bad = views.filter((_, i) => q[i]! < 0);
  if (bad.length) throw new Error(`rotation prediction trains on none, rot90, rot180, rot270; not on ${bad.join(', ')}`);
  if (new Set(q).size < 2) throw new Error('rotation prediction needs at least two rotations');
  return q;
}

export interface RotationOptions {
  source: AugmentedSource;
  dim: number;
  seed?: number;
}

export function rotationObjective(o: RotationOptions): Objective {
  const cls = rotationClasses(o.source.views);
  const head = tfl.sequential({ name: 'rotation' });
  head.add(tfl.layers.dense({ inputShape: [o.dim], units: 4, name: 'rotation_logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: tfSeed((o.seed ?? 0) + 13) }) }));
  let labels: Int32Array | undefined;
  return {
    name: 'rotation',
    modules: [head],
    fingerprint: { views: o.source.views.join(',') },
    beforeStep(info: StepInfo) {
      labels = Int32Array.from(info.idx, (i) => cls[o.source.pick(i, info.epoch)]!);
    },
    end() {
      labels = undefined;
    },
    loss(batch) {
      const m = batch.idx.length;
      if (!labels || labels.length !== m) throw new Error('rotation: the batch rotations were not set');
      const h = batch.model.apply(batch.x, { training: true }) as tf.Tensor2D;
      const logits = head.apply(h, { training: true }) as tf.Tensor2D;
      const y = tf.tensor1d(labels, 'int32');
      const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(y, 4), logits) as tf.Scalar;
      const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;
      return { loss, logits: h, terms: { rotation: loss, rotationAccuracy: accuracy } };
    },
  };
}
