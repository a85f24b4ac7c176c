/**
 * graft adapt's model selection without target labels (DEV on each method's representation, SND)
 * and the stacked methods, on small synthetic feature domains whose right answers are known.
 * No backbone, no images: every case is a few hundred rows of a few dimensions.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initTf } from '../src/engine/tfjs.js';
import { batchNuclearNorm, devRisk, ensembleAgreement, informationMaximization, softNeighbourhoodDensity, symmetricEigenvalues } from '../src/strategies/adapt/selection.js';
import { chooseBy, domainViewOf, parseSelection, scoreMethod, viewWeights, type DomainView } from '../src/recipes/adapt-select.js';
import { accuracyOf, type AdaptContext } from '../src/recipes/adapt-methods.js';
import { fitFeatureMethod } from '../src/recipes/adapt-stack.js';
import { headProbabilities } from '../src/recipes/run.js';
import { parseMethod } from '../src/recipes/adapt.js';
import { silentReporter } from '../src/util/log.js';
import { rng } from '../src/util/rng.js';

before(async () => {
  await initTf();
});

const gaussian = (r: () => number) => () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

test('SND: identical predictions give log(n−1); confident, clustered predictions score lower than uniform ones (its known bias)', () => {
  const n = 40;
  const k = 4;
  const same = new Float32Array(n * k).fill(0).map((_, i) => (i % k === 2 ? 1 : 0));
  assert.ok(Math.abs(softNeighbourhoodDensity(same, n, k) - Math.log(n - 1)) < 1e-9);
  // Four clean clusters of 10: each row's softmax sits on its 9 cluster-mates (similarity 1 vs 0, T = 0.05).
  const clusters = new Float32Array(n * k).map((_, i) => (i % k === Math.floor(i / k) % k ? 1 : 0));
  const snd = softNeighbourhoodDensity(clusters, n, k);
  assert.ok(Math.abs(snd - Math.log(9)) < 1e-3, `four clusters of ten: ${snd} vs log 9`);
  const r = rng(1);
  const soft = new Float32Array(n * k).map(() => 0.25 + 0.01 * (r() - 0.5));
  assert.ok(softNeighbourhoodDensity(soft, n, k) > snd, 'near-uniform predictions are "denser" than confident ones');
  assert.throws(() => softNeighbourhoodDensity(same, 1, k), /at least 2 target rows/);
});

test('IM and BNM: hand-computed values; a collapsed confident head scores below a confident one that spreads the classes', () => {
  const k = 3;
  // Six confident rows, two per class: IM = log 3 − 0; BNM = (3 singular values √2) / 6.
  const spread = Float32Array.from({ length: 18 }, (_, i) => (i % k === Math.floor(i / k) % k ? 1 : 0));
  assert.ok(Math.abs(informationMaximization(spread, 6, k) - Math.log(3)) < 1e-9);
  assert.ok(Math.abs(batchNuclearNorm(spread, 6, k) - (3 * Math.SQRT2) / 6) < 1e-9);
  // Everything sent to class 0, confidently: IM = 0, BNM = √6 / 6.
  const collapsed = Float32Array.from({ length: 18 }, (_, i) => (i % k === 0 ? 1 : 0));
  assert.ok(Math.abs(informationMaximization(collapsed, 6, k)) < 1e-9);
  assert.ok(Math.abs(batchNuclearNorm(collapsed, 6, k) - Math.sqrt(6) / 6) < 1e-9);
  // Uniform rows: IM = log 3 − log 3 = 0, BNM = the one singular value √(6/3) / 6.
  const uniform = new Float32Array(18).fill(1 / 3);
  assert.ok(Math.abs(informationMaximization(uniform, 6, k)) < 1e-6);
  assert.ok(Math.abs(batchNuclearNorm(uniform, 6, k) - Math.sqrt(2) / 6) < 1e-6);
  // Jacobi eigenvalues of a symmetric matrix: trace 12, determinant 43.
  const e = symmetricEigenvalues(Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]), 3);
  assert.ok(Math.abs(e[0]! + e[1]! + e[2]! - 12) < 1e-9 && Math.abs(e[0]! * e[1]! * e[2]! - 43) < 1e-9, `eigenvalues ${e}`);
});

test('EnsV: each candidate scored by its agreement with the arg-max of the mean of all candidates', () => {
  const k = 2;
  const oneHot = (cls: number[]) => Float32Array.from(cls.flatMap((c) => (c === 0 ? [1, 0] : [0, 1])));
  // Rows 0–3: A = [0,0,1,1], B = [0,1,1,1], C = [0,0,0,1] → the mean's arg-max [0,0,1,1] (row 1: 2 of 3 say 0; row 2: 2 of 3 say 1).
  const pool = [oneHot([0, 0, 1, 1]), oneHot([0, 1, 1, 1]), oneHot([0, 0, 0, 1])];
  assert.deepEqual(ensembleAgreement(pool, 4, k), [1, 0.75, 0.75]);
  // Soft probabilities: the mean, not a vote — one very confident member outweighs two hesitant ones.
  const soft = [Float32Array.from([0.45, 0.55]), Float32Array.from([0.45, 0.55]), Float32Array.from([1, 0])];
  assert.deepEqual(ensembleAgreement(soft, 1, k), [0, 0, 1]);
  assert.deepEqual(ensembleAgreement([], 4, k), []);
});

test('chooseBy: DEV takes the lowest risk, SND / IM / BNM / EnsV the highest, unscored methods are skipped; criteria parse', () => {
  const s = { a: { devRisk: 0.3, meanWeight: 1, snd: 2, im: 0.5, bnm: 0.1, ensv: 0.9 }, b: { devRisk: 0.1, meanWeight: 1, snd: 1, im: 0.9, bnm: 0.2, ensv: null }, c: { devRisk: null, meanWeight: null, snd: 5, im: 0.1, bnm: 0.3, ensv: 0.4 } };
  assert.equal(chooseBy('dev', s, ['a', 'b', 'c']), 'b');
  assert.equal(chooseBy('snd', s, ['a', 'b', 'c']), 'c');
  assert.equal(chooseBy('im', s, ['a', 'b', 'c']), 'b');
  assert.equal(chooseBy('bnm', s, ['a', 'b', 'c']), 'c');
  assert.equal(chooseBy('ensv', s, ['a', 'b', 'c']), 'a');
  assert.equal(chooseBy('dev', {}, ['a']), null);
  assert.equal(parseSelection('snd'), 'snd');
  assert.equal(parseSelection('im'), 'im');
  assert.throws(() => parseSelection('oracle'), /unknown selection criterion "oracle" \(criteria: dev, snd, im, bnm, ensv\)/);
  assert.deepEqual(parseMethod('source-only,coral+self-train'), ['source-only', 'coral+self-train']);
  assert.throws(() => parseMethod('coral,magic'), /unknown adapt method "magic"/);
});

/** Rows of d dims, first coordinate N(mu, 1), the others N(0, 1) noise; labels y = x0 > cut. */
function shifted(n: number, d: number, mu: number, cut: number, seed: number) {
  const g = gaussian(rng(seed));
  const x = new Float32Array(n * d).map((_, i) => g() + (i % d === 0 ? mu : 0));
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * d]! > cut ? 1 : 0));
  return { x, y, n, dim: d };
}

/** One-hot probabilities of the threshold rule x0 > t. */
const thresholdProbs = (e: { x: Float32Array; n: number; dim: number }, t: number) => Float32Array.from({ length: e.n * 2 }, (_, i) => ((e.x[Math.floor(i / 2) * e.dim]! > t) === (i % 2 === 1) ? 1 : 0));

test('DEV with a fitted domain classifier prefers the rule that is right where the target lives, where source validation prefers the other', async () => {
  // Covariate shift: source x0 ~ N(0,1), target x0 ~ N(1.5,1), one labelling rule y = x0 > 0.75 in both.
  // Rule A (x0 > 2.25) errs on (0.75, 2.25): 21% of source, 55% of target. Rule B (x0 > −0.75) errs on (−0.75, 0.75): 55% of source, 21% of target.
  const d = 3;
  const train = shifted(1500, d, 0, 0.75, 1);
  const val = shifted(1500, d, 0, 0.75, 2);
  const target = shifted(1500, d, 1.5, 0.75, 3);
  const c = { seed: 0, reporter: silentReporter, numClasses: 2 } as AdaptContext;
  const view: DomainView = { train, val, target, dim: d, key: 'x' };
  const w = (await viewWeights(view, c))!;
  const meanW = w.reduce((a, b) => a + b, 0) / w.length;
  assert.ok(meanW > 0.7 && meanW < 1.3, `a true density ratio averages 1 over the source, got ${meanW}`);
  const err = (t: number) => Float64Array.from({ length: val.n }, (_, i) => ((val.x[i * d]! > t ? 1 : 0) === val.y[i] ? 0 : 1));
  const plainA = err(2.25).reduce((a, b) => a + b, 0) / val.n;
  const plainB = err(-0.75).reduce((a, b) => a + b, 0) / val.n;
  assert.ok(plainA < 0.3 && plainB > 0.45, `source validation prefers A: ${plainA} vs ${plainB}`);
  const devA = devRisk(err(2.25), w).risk;
  const devB = devRisk(err(-0.75), w).risk;
  if (process.env.PROBE) console.log({ meanW, plainA, plainB, devA, devB });
  assert.ok(devB < devA, `DEV prefers B: ${devB} vs ${devA}`);
  assert.ok(Math.abs(devA - 0.55) < 0.15 && Math.abs(devB - 0.21) < 0.12, `DEV estimates the target errors 0.55 / 0.21: ${devA} / ${devB}`);
  // The same through scoreMethod, which also gives SND of the target predictions and caches the weights per representation.
  const cache = new Map<string, Float64Array | undefined>();
  const sA = await scoreMethod(view, cache, thresholdProbs(val, 2.25), val.y, thresholdProbs(target, 2.25), c);
  const sB = await scoreMethod(view, cache, thresholdProbs(val, -0.75), val.y, thresholdProbs(target, -0.75), c);
  assert.equal(cache.size, 1, 'one domain classifier for one representation');
  assert.ok(Math.abs(sA.devRisk! - devA) < 1e-9 && Math.abs(sB.devRisk! - devB) < 1e-9);
  assert.equal(chooseBy('dev', { A: sA, B: sB }, ['A', 'B']), 'B');
});

/**
 * A 4-class, 6-d pair where the target is the source distribution under a per-feature scale and a
 * shift: a head on raw source rows fails there, CORAL (and self-training on top) recovers it.
 */
function affinePair() {
  const d = 6;
  const k = 4;
  const g = gaussian(rng(7));
  const centres = Array.from({ length: k * d }, () => 2.5 * g());
  const scale = [4, 0.25, 3, 0.3, 3.5, 0.3];
  const make = (n: number, target: boolean) => {
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % k;
      for (let j = 0; j < d; j++) {
        const v = centres[y[i]! * d + j]! + g();
        x[i * d + j] = target ? scale[j]! * v + 4 : v;
      }
    }
    return { x, y, n, dim: d };
  };
  return { train: make(400, false), val: make(200, false), target: make(400, true), d, k };
}

test('stacked methods on a shifted pair: coral+self-train ≥ coral ≫ source-only on the target; DEV on CORAL’s representation sees aligned domains', async () => {
  const p = affinePair();
  const c: AdaptContext = { train: p.train, val: p.val, target: { x: p.target.x, n: p.target.n, dim: p.d }, numClasses: p.k, head: {}, seed: 1, reporter: silentReporter };
  const before = tf.memory().numTensors;
  const prior: Record<string, Awaited<ReturnType<typeof fitFeatureMethod>>> = {};
  const acc: Record<string, number> = {};
  const scores: Record<string, Awaited<ReturnType<typeof scoreMethod>>> = {};
  const cache = new Map<string, Float64Array | undefined>();
  for (const m of ['source-only', 'coral', 'coral+self-train'] as const) {
    const fit = await fitFeatureMethod(m, c, { selfTrainRounds: 3 }, prior);
    prior[m] = fit;
    const tp = headProbabilities(fit.model, p.target.x, p.target.n, p.d);
    acc[m] = accuracyOf(tp, p.target.y, p.k);
    scores[m] = await scoreMethod(domainViewOf(m, fit, c), cache, headProbabilities(fit.model, fit.valView.x, fit.valView.n, p.d), p.val.y, tp, c);
  }
  if (process.env.PROBE) console.log(acc, scores);
  assert.ok(acc.coral! > acc['source-only']! + 0.15, `CORAL recovers the shift: ${acc.coral} vs source-only ${acc['source-only']}`);
  assert.ok(acc['coral+self-train']! >= acc.coral! - 0.01 && acc['coral+self-train']! > 0.8, `self-training on CORAL keeps or improves it: ${acc['coral+self-train']} vs ${acc.coral}`);
  const rounds = prior['coral+self-train']!.details.rounds as { perClass: number[] }[];
  assert.ok(rounds.length >= 1 && rounds.every((r) => r.perClass.every((n) => n > 0)), 'every class keeps pseudo-labels in every round');
  assert.ok(scores.coral!.meanWeight! > 0.3, `after CORAL the domain classifier cannot separate the domains: mean weight ${scores.coral!.meanWeight}`);
  assert.ok(scores['source-only']!.meanWeight! < 0.1, `on raw rows it can: mean weight ${scores['source-only']!.meanWeight}`);
  assert.equal(cache.size, 3, 'source-only (backbone view), coral and coral+self-train (its CORAL view) each get a domain classifier');
  for (const f of Object.values(prior)) f.model.dispose();
  assert.equal(tf.memory().numTensors, before, 'no tensors leak, the stack’s private CORAL fit included');
});
