/**
 * AdaBN (Li et al. 2016, "Revisiting batch normalization for practical domain adaptation"): a
 * network's BatchNormalization statistics describe its training domain; re-estimating every BN
 * layer's mean and variance on target images — in layer order, each layer seeing the outputs of
 * the already re-estimated ones — adapts the network without a single label or gradient step.
 * Here it runs over a fine-tuned tail's BN layers, on the target's cached cut activations.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import type { TargetRows } from './target-batch.js';
import { isFolded } from '../../models/fold-bn.js';

interface BnVars {
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

/** The innermost functional model holding the BN layers (a finetune model nests its tail). */
export function tailOf(model: tfl.LayersModel): tfl.LayersModel {
  const inner = model.layers.find((l) => 'layers' in l && 'inputs' in l) as tfl.LayersModel | undefined;
  return inner ?? model;
}

/**
 * A model from the tail's input to `layer`'s input in the tail's graph. The tail shares its layers
 * with the full network, so a layer has one inbound node per graph: take the one the tail reaches.
 */
export function inputModel(tail: tfl.LayersModel, layer: tfl.layers.Layer): tfl.LayersModel {
  for (const node of [...layer.inboundNodes].reverse()) {
    try {
      return tfl.model({ inputs: tail.inputs, outputs: node.inputTensors[0] as tfl.SymbolicTensor });
    } catch {
      // not this graph's node
    }
  }
  throw new Error(`layer ${layer.name} is not reachable from the tail's input`);
}

/**
 * Re-estimate the moving mean/variance of every BatchNormalization layer of `model`'s tail on
 * `target` rows (flattened activations the tail takes), streamed in chunks; population variance
 * over every target position (as AdaBN's statistics, the whole target at once). Returns the BN layers updated, in order.
 */
export function adaBn(model: tfl.LayersModel, target: TargetRows, chunk = 128): string[] {
  const tail = tailOf(model);
  const shape = tail.inputs[0].shape.slice(1) as number[];
  const bns = tail.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  const folded = bns.filter((l) => isFolded(l));
  if (folded.length) throw new Error(`adaBn: BatchNorm ${folded[0]!.name} is folded into its convolution (a tail built with foldBatchNorm: false can have its statistics re-estimated)`);
  for (const bn of bns) {
    const sub = inputModel(tail, bn);
    let sum: tf.Tensor1D | undefined;
    let sumSq: tf.Tensor1D | undefined;
    let count = 0;
    // Accumulate around the current (source) statistics: Σ(y−μ₀)² keeps float32 precise where Σy² − n·ȳ² would cancel.
    const shift = (bn as unknown as BnVars).movingMean.read();
    for (let s = 0; s < target.n; s += chunk) {
      const e = Math.min(target.n, s + chunk);
      const [a, b, c] = tf.tidy(() => {
        const x = tf.reshape(tf.tensor2d(target.x.subarray(s * target.dim, e * target.dim), [e - s, target.dim]), [e - s, ...shape]);
        const y = sub.predict(x) as tf.Tensor;
        const ch = y.shape[y.shape.length - 1]!;
        const flat = tf.sub(tf.reshape(y, [-1, ch]), shift);
        const ps = tf.sum(flat, 0) as tf.Tensor1D;
        const pq = tf.sum(tf.square(flat), 0) as tf.Tensor1D;
        return [sum ? tf.add(sum, ps) : ps, sumSq ? tf.add(sumSq, pq) : pq, flat.shape[0]] as [tf.Tensor1D, tf.Tensor1D, number];
      });
      sum?.dispose();
      sumSq?.dispose();
      [sum, sumSq] = [a, b];
      count += c;
    }
    const [mean, variance] = tf.tidy(() => {
      const d = tf.div(sum!, count);
      return [tf.add(d, shift), tf.relu(tf.sub(tf.div(sumSq!, count), tf.square(d)))];
    });
    const v = bn as unknown as BnVars;
    v.movingMean.write(mean);
    v.movingVariance.write(variance);
    tf.dispose([sum!, sumSq!, mean, variance]);
  }
  return bns.map((l) => l.name);
}
