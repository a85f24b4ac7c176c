/**
 * The few-shot classifiers `graft fewshot` compares, each fitted on one episode's support rows and
 * predicting its query rows (features from the feature store, never the pixels):
 *
 * - proto: SimpleShot nearest mean on CL2N features (Wang et al. 2019), ./prototype.ts.
 * - knn: cosine k-nearest neighbours over the support images (Teachable Machine / ml5 style).
 * - logreg: multinomial logistic regression on the CL2N support features, full-batch L-BFGS through
 *   the Trainer (Tian et al. 2020: a linear classifier on good features matches meta-learning).
 *   L2 strength 1/n (scikit-learn's default C = 1 for a summed loss, as Tian et al. use).
 * - finetune: a linear head initialised at the prototypes (the SimpleShot rule as a Dense layer)
 *   then fine-tuned on the support set with Adam through the Trainer (Dhillon et al. 2020's
 *   support-based initialisation, without the transductive term).
 */
import { tf } from '../../engine/tfjs.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { centreL2, rowMean } from '../../train/centre-l2.js';
import { Trainer, type Examples } from '../../train/trainer.js';
import { prototypeDense, prototypes, prototypeScores } from './prototype.js';

export type FewShotMethod = 'proto' | 'knn' | 'logreg' | 'finetune';
export const FEWSHOT_METHODS: readonly FewShotMethod[] = ['proto', 'knn', 'logreg', 'finetune'];

export interface MethodOptions {
  /** Neighbours of the kNN vote (default 1). */
  knnK?: number;
  /** Fine-tuning: Adam steps on the whole support set (default 100) and learning rate (default 1e-2). */
  finetuneSteps?: number;
  finetuneLr?: number;
  /** Temperature of the prototype initialisation of the fine-tuned head (default 10). */
  temperature?: number;
  seed?: number;
}

function argmaxRows(s: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let c = 1; c < k; c++) if (s[i * k + c] > s[i * k + b]) b = c;
    out[i] = b;
  }
  return out;
}

function l2Rows(x: Float32Array, n: number, dim: number): Float32Array {
  return centreL2(x, n, dim, new Float64Array(dim));
}

/** Cosine kNN: majority vote of the k most similar support rows; ties go to the larger summed similarity. */
export function knnPredict(support: Examples, query: Float32Array, nq: number, ways: number, k = 1): Int32Array {
  const { dim } = support;
  const s = l2Rows(support.x, support.n, dim);
  const q = l2Rows(query, nq, dim);
  const kk = Math.min(k, support.n);
  const out = new Int32Array(nq);
  const sims = new Float64Array(support.n);
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < support.n; j++) {
      let d = 0;
      for (let t = 0; t < dim; t++) d += q[i * dim + t] * s[j * dim + t];
      sims[j] = d;
    }
    const order = Array.from({ length: support.n }, (_, j) => j).sort((a, b) => sims[b] - sims[a]).slice(0, kk);
    const votes = new Float64Array(ways);
    const simSum = new Float64Array(ways);
    for (const j of order) {
      votes[support.y[j]]++;
      simSum[support.y[j]] += sims[j];
    }
    let best = 0;
    for (let c = 1; c < ways; c++) if (votes[c] > votes[best] || (votes[c] === votes[best] && simSum[c] > simSum[best])) best = c;
    out[i] = best;
  }
  return out;
}

export function protoPredict(support: Examples, query: Float32Array, nq: number, ways: number): Int32Array {
  const p = prototypes(support.x, support.y, support.n, support.dim, ways);
  return argmaxRows(prototypeScores(p, query, nq), nq, ways);
}

function linearModel(dim: number, ways: number, kernel?: Float32Array, bias?: Float32Array): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [dim], units: ways, kernelInitializer: 'zeros', name: 'logits' }));
  if (kernel && bias) {
    const w = [tf.tensor2d(kernel, [dim, ways]), tf.tensor1d(bias)];
    m.layers[0].setWeights(w);
    w.forEach((t) => t.dispose());
  }
  return m;
}

function predictLinear(model: tfl.LayersModel, q: Float32Array, nq: number, dim: number, ways: number): Int32Array {
  const logits = tf.tidy(() => (model.predict(tf.tensor2d(q, [nq, dim])) as tf.Tensor).dataSync() as Float32Array);
  return argmaxRows(logits, nq, ways);
}

/** Support and query rows centred by the support mean and L2-normalised. */
function cl2nEpisode(support: Examples, query: Float32Array, nq: number): { s: Examples; q: Float32Array } {
  const mean = rowMean(support.x, support.n, support.dim);
  return { s: { ...support, x: centreL2(support.x, support.n, support.dim, mean) }, q: centreL2(query, nq, support.dim, mean) };
}

export async function logregPredict(support: Examples, query: Float32Array, nq: number, ways: number): Promise<Int32Array> {
  const { s, q } = cl2nEpisode(support, query, nq);
  const model = linearModel(s.dim, ways);
  try {
    await new Trainer(model, { optimizer: 'lbfgs', epochs: 100, weightDecay: 1 / s.n, restoreBest: false, threads: 1 }).fit(s);
    return predictLinear(model, q, nq, s.dim, ways);
  } finally {
    model.dispose();
  }
}

export async function finetunePredict(support: Examples, query: Float32Array, nq: number, ways: number, o: MethodOptions = {}): Promise<Int32Array> {
  const { s, q } = cl2nEpisode(support, query, nq);
  // On CL2N rows the prototype rule is exactly this Dense layer (the centring is already applied).
  const p = prototypes(support.x, support.y, support.n, support.dim, ways);
  const { kernel, bias } = prototypeDense(p, o.temperature ?? 10);
  const model = linearModel(s.dim, ways, kernel, bias);
  try {
    const steps = o.finetuneSteps ?? 100;
    await new Trainer(model, { optimizer: 'adam', lr: o.finetuneLr ?? 1e-2, epochs: steps, batchSize: s.n, schedule: 'constant', restoreBest: false, seed: o.seed ?? 0 }).fit(s);
    return predictLinear(model, q, nq, s.dim, ways);
  } finally {
    model.dispose();
  }
}

/** Predictions of `method` for the query rows of one episode. */
export async function predictEpisode(method: FewShotMethod, support: Examples, query: Float32Array, nq: number, ways: number, o: MethodOptions = {}): Promise<Int32Array> {
  switch (method) {
    case 'proto':
      return protoPredict(support, query, nq, ways);
    case 'knn':
      return knnPredict(support, query, nq, ways, o.knnK ?? 1);
    case 'logreg':
      return logregPredict(support, query, nq, ways);
    case 'finetune':
      return finetunePredict(support, query, nq, ways, o);
  }
}
