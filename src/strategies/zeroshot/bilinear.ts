/**
 * A bilinear compatibility model trained with the Trainer: F(x, c) = x̂ᵀ W s_c with W (d×a)
 * learnt, the class descriptions s_c fixed, and a softmax cross-entropy over the seen classes
 * (the softmax form of ALE / DeViSE-style compatibility learning, Akata et al. 2015; Frome et al.
 * 2013) plus an L2 penalty λ‖W‖²/2. As a model: Dense(d→a, W, trainable) → Dense(a→z, Sᵀ,
 * frozen) → logits, fitted full-batch by L-BFGS (the problem is convex in W). A class c, seen or
 * not, then scores x̂ W s_cᵀ, exactly as with ESZSL's V.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../engine/tfjs.js';
import { Trainer } from '../../train/trainer.js';

/** W (d×a) for rows X (n×d, already CL2N), seen-class labels y, descriptions S (z×a), L2 strength λ. */
export async function fitBilinear(x: Float64Array, n: number, d: number, y: ArrayLike<number>, s: Float64Array, z: number, a: number, lambda: number, o: { iterations?: number } = {}): Promise<Float64Array> {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [d], units: a, useBias: false, kernelInitializer: 'zeros', name: 'compat_w' }));
  const desc = tfl.layers.dense({ units: z, useBias: false, trainable: false, name: 'class_descriptions' });
  model.add(desc);
  try {
    const st = new Float32Array(a * z);
    for (let c = 0; c < z; c++) for (let j = 0; j < a; j++) st[j * z + c] = s[c * a + j];
    const t = tf.tensor2d(st, [a, z]);
    desc.setWeights([t]);
    t.dispose();
    const rows = { x: Float32Array.from(x), y: Int32Array.from(y), n, dim: d };
    await new Trainer(model, { optimizer: 'lbfgs', epochs: o.iterations ?? 200, weightDecay: lambda, restoreBest: false }).fit(rows);
    const w = model.layers[0].getWeights()[0];
    const out = Float64Array.from(w.dataSync() as Float32Array);
    return out;
  } finally {
    model.dispose();
  }
}
