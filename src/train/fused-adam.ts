/**
 * tfjs's Adam with its per-variable update fused into one kernel (graft's `GraftAdam`, one SIMD
 * pass instead of ~13 elementwise kernels per variable per step), and AdamW's decoupled decay
 * folded into the same pass. State (moments, iterations, running β powers) lives exactly where
 * tfjs's AdamOptimizer keeps it, so getWeights/setWeights and graft's checkpoints are unchanged.
 */
import { tf } from '../engine/tfjs.js';
import { adamUpdate, adamUpdateInPlace } from '../engine/kernels/adam.js';

interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  incrementIterations(): void;
}

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** AdamW: variables (by name) decayed by `1 − lr·decayRate` in the same pass. */
  decayed = new Set<string>();
  decayRate = 0;

  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999) {
    super(learningRate, beta1, beta2);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (Array.isArray(variableGradients)) return super.applyGradients(variableGradients);
    const s = this as unknown as AdamState;
    const names = Object.keys(variableGradients);
    // tfjs computes 1 − β^t in float32 from the running power variables: the same numbers here.
    const c1 = Math.fround(1 - s.accBeta1.dataSync()[0]);
    const c2 = Math.fround(1 - s.accBeta2.dataSync()[0]);
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        s.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.variable(tf.zerosLike(value), false)) };
        s.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.variable(tf.zerosLike(value), false)) };
        const g = variableGradients[name];
        if (g == null) return;
        const m = s.accumulatedFirstMoment[i].variable;
        const v = s.accumulatedSecondMoment[i].variable;
        const decay = this.decayed.has(name) && this.decayRate > 0 ? 1 - s.learningRate * this.decayRate : 1;
        const p = { lr: s.learningRate, beta1: s.beta1, beta2: s.beta2, epsilon: s.epsilon, c1, c2, decay };
        if (adamUpdateInPlace(value, m, v, g, p)) return;
        const next = adamUpdate(value, m, v, g, p);
        m.assign(next.m);
        v.assign(next.v);
        value.assign(next.x);
      });
      s.accBeta1.assign(tf.mul(s.accBeta1, s.beta1));
      s.accBeta2.assign(tf.mul(s.accBeta2, s.beta2));
    });
    s.incrementIterations();
  }
}
