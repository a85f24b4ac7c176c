/**
 * Nearest class mean with SimpleShot's CL2N (Wang et al. 2019, "SimpleShot: Revisiting
 * Nearest-Neighbor Classification for Few-Shot Learning"): centre every feature by the mean of the
 * support features, L2-normalise, average each class's normalised features into its prototype
 * p_c, classify by the nearest prototype in Euclidean distance.
 *
 * −T·‖x̂ − p_c‖² = T·(2 x̂·p_c − ‖p_c‖²) − T·‖x̂‖², and ‖x̂‖ = 1, so with a temperature T the rule
 * is a Dense layer on x̂ (kernel 2T·p_c, bias −T‖p_c‖²) whose softmax gives probabilities: the
 * head is CL2N → Dense (src/train/centre-l2.ts), an ordinary bundle model.
 */
import { centreL2, rowMean } from '../../train/centre-l2.js';

export interface Prototypes {
  /** Centring mean (dim). */
  mean: Float64Array;
  /** k×dim row-major: mean normalised feature of each class. */
  protos: Float64Array;
  /** Support rows per class. */
  counts: number[];
  dim: number;
  k: number;
}

/** Prototypes of `n` rows labelled `y` ∈ [0, k); the centring mean is the mean of all rows. */
export function prototypes(x: Float32Array, y: ArrayLike<number>, n: number, dim: number, k: number): Prototypes {
  const mean = rowMean(x, n, dim);
  const z = centreL2(x, n, dim, mean);
  const protos = new Float64Array(k * dim);
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    const c = y[i];
    counts[c]++;
    for (let j = 0; j < dim; j++) protos[c * dim + j] += z[i * dim + j];
  }
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) throw new Error(`prototypes: class ${c} has no support rows`);
    for (let j = 0; j < dim; j++) protos[c * dim + j] /= counts[c];
  }
  return { mean, protos, counts, dim, k };
}

/** Dense weights of the prototype rule at temperature T: kernel dim×k (2T·p_c), bias −T‖p_c‖². */
export function prototypeDense(p: Prototypes, temperature: number): { kernel: Float32Array; bias: Float32Array } {
  const { dim, k } = p;
  const kernel = new Float32Array(dim * k);
  const bias = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let sq = 0;
    for (let j = 0; j < dim; j++) {
      const v = p.protos[c * dim + j];
      kernel[j * k + c] = 2 * temperature * v;
      sq += v * v;
    }
    bias[c] = -temperature * sq;
  }
  return { kernel, bias };
}

/** Scores s_c = 2 x̂·p_c − ‖p_c‖² (= 1 − ‖x̂ − p_c‖²) of n query rows, n×k; argmax = nearest prototype. */
export function prototypeScores(p: Prototypes, x: Float32Array, n: number): Float32Array {
  const { dim, k } = p;
  const z = centreL2(x, n, dim, p.mean);
  const sq = new Float64Array(k);
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) sq[c] += p.protos[c * dim + j] ** 2;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += z[i * dim + j] * p.protos[c * dim + j];
      out[i * k + c] = 2 * d - sq[c];
    }
  }
  return out;
}
