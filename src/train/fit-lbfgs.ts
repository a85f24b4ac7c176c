/**
 * Full-batch L-BFGS fit of a model on rows in memory; each iteration is reported to `onEpoch` as
 * one epoch (true from it stops). A single linear Dense layer is evaluated in ORT (fast GEMMs).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../engine/tfjs.js';
import { lbfgsMinimize } from './lbfgs.js';
import { correctCount, isLinearDense } from './optim.js';
import { SoftmaxObjective } from './softmax-objective.js';
import type { Examples } from './source.js';
import type { EpochLogs } from './trainer.js';

export interface LbfgsFit {
  model: tfl.LayersModel;
  train: Examples;
  classWeights: tf.Tensor1D | undefined;
  numClasses: number;
  opts: { epochs: number; tol: number; weightDecay: number; labelSmoothing: number; threads: number };
  lossOf: (logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights?: tf.Tensor1D) => tf.Scalar;
  l2Term: () => tf.Scalar;
  onEpoch: (logs: EpochLogs) => Promise<boolean>;
}

export async function fitLbfgs(fit: LbfgsFit): Promise<void> {
  const { model, train, numClasses, opts: o, lossOf, l2Term, onEpoch } = fit;
  const cw = fit.classWeights;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const linear = isLinearDense(model);
  const x = linear ? undefined : tf.tensor2d(train.x, [train.n, train.dim]);
  const y = linear ? undefined : tf.tensor1d(train.y, 'int32');
  let objective: SoftmaxObjective | undefined;
  try {
    const sizes = vars.map((v) => v.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    const setFlat = (p: Float64Array) => {
      let off = 0;
      vars.forEach((v, i) => {
        v.assign(tf.tensor(Float32Array.from(p.subarray(off, off + sizes[i])), v.shape));
        off += sizes[i];
      });
    };
    const getFlat = (): Float64Array => {
      const p = new Float64Array(total);
      let off = 0;
      vars.forEach((v, i) => {
        p.set(v.dataSync(), off);
        off += sizes[i];
      });
      return p;
    };
    let lastAcc = 0;
    let fg: (p: Float64Array) => Promise<{ f: number; g: Float64Array }>;
    if (isLinearDense(model)) {
      // A single Dense layer: evaluate the convex objective in ORT (fast GEMMs), not tfjs.
      const cwArr = cw ? Array.from(cw.dataSync()) : undefined;
      objective = await SoftmaxObjective.create(train, { numClasses: numClasses, labelSmoothing: o.labelSmoothing, classWeights: cwArr, threads: o.threads || undefined });
      const obj = objective;
      fg = async (p) => {
        const r = await obj.evaluate(p, o.weightDecay);
        lastAcc = r.accuracy;
        return r;
      };
    } else {
      fg = async (p) => {
        tf.tidy(() => setFlat(p));
        const out = tf.tidy(() => {
          let acc: tf.Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const logits = model.apply(x!, { training: false }) as tf.Tensor2D;
            acc = tf.keep(correctCount(logits, y!));
            const l = lossOf(logits, y!, cw);
            return o.weightDecay > 0 ? (tf.add(l, l2Term()) as tf.Scalar) : l;
          }, vars);
          return [value, acc!, ...vars.map((v) => grads[v.name])];
        });
        const [value, acc, ...grads] = out;
        lastAcc = acc.dataSync()[0] / train.n;
        const g = new Float64Array(total);
        let off = 0;
        grads.forEach((t, i) => {
          g.set(t.dataSync(), off);
          off += sizes[i];
        });
        const f = value.dataSync()[0];
        out.forEach((t) => t.dispose());
        return { f, g };
      };
    }
    let t0 = performance.now();
    await lbfgsMinimize(fg, getFlat(), {
      maxIter: o.epochs,
      tol: o.tol,
      onIter: async (it, f, p) => {
        if (linear) tf.tidy(() => setFlat(p)); // ORT does not touch the model: sync it for validation
        const stop = await onEpoch({ epoch: it, loss: f, accuracy: lastAcc, lr: 1, seconds: (performance.now() - t0) / 1000 });
        t0 = performance.now();
        return stop;
      },
      onPoint: (p) => tf.tidy(() => setFlat(p)),
    });
  } finally {
    x?.dispose();
    y?.dispose();
    await objective?.release();
  }
}
