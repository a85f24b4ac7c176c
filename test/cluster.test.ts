/** graft cluster's numeric pieces on small generated data, checked against hand-computed values. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kmeans, kmeansPlusPlus } from '../src/strategies/cluster/kmeans.js';
import { hungarian, maxAssignment } from '../src/strategies/cluster/hungarian.js';
import { ari, contingency, matchedAccuracy, nmi, pairwiseDistances, silhouetteFromDistances } from '../src/strategies/cluster/metrics.js';
import { fitPca, l2NormalizeRows, symmetricEigen, transformPca } from '../src/strategies/cluster/pca.js';
import { cutTree, wardLinkage } from '../src/strategies/cluster/ward.js';
import { canonicalLabels, chooseK, partitioner, silhouetteSample } from '../src/strategies/cluster/partition.js';
import { gemmABt } from '../src/engine/kernels/gemm.js';
import { rng, shuffle } from '../src/util/rng.js';

/** `perBlob` Gaussian points (σ = 0.3) around each of `centres`, shuffled; returns rows and true blob. */
function blobs(centres: number[][], perBlob: number, seed = 1): { x: Float32Array; n: number; d: number; truth: Int32Array } {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const d = centres[0].length;
  const order = Array.from({ length: centres.length * perBlob }, (_, i) => i);
  shuffle(order, r);
  const n = order.length;
  const x = new Float32Array(n * d);
  const truth = new Int32Array(n);
  order.forEach((src, i) => {
    const b = Math.floor(src / perBlob);
    truth[i] = b;
    for (let t = 0; t < d; t++) x[i * d + t] = centres[b][t] + 0.3 * gauss();
  });
  return { x, n, d, truth };
}

const CENTRES = [
  [0, 0, 0, 0, 0],
  [6, 0, 0, 0, 0],
  [0, 6, 0, 0, 0],
  [0, 0, 6, 6, 0],
];

describe('k-means', () => {
  it('recovers separable blobs (ARI = 1, accuracy 1) and seeded reruns are identical', () => {
    const { x, n, d, truth } = blobs(CENTRES, 30);
    const a = kmeans(x, n, d, { k: 4, restarts: 3, seed: 7 });
    assert.equal(ari(truth, a.labels), 1);
    assert.equal(nmi(truth, a.labels), 1);
    assert.equal(matchedAccuracy(truth, a.labels).accuracy, 1);
    const b = kmeans(x, n, d, { k: 4, restarts: 3, seed: 7 });
    assert.deepEqual(b.labels, a.labels);
    assert.equal(b.inertia, a.inertia);
    assert.deepEqual(b.restartInertias, a.restartInertias);
    // Inertia is the real within-cluster sum of squares of the returned partition.
    let ss = 0;
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) ss += (x[i * d + t] - a.centroids[a.labels[i] * d + t]) ** 2;
    assert.ok(Math.abs(ss - a.inertia) / ss < 1e-4, `inertia ${a.inertia} vs recomputed ${ss}`);
    assert.equal(Math.min(...a.restartInertias), a.inertia, 'keeps the lowest-inertia restart');
  });

  it('k-means++ picks k distinct rows, one per blob when blobs are far apart', () => {
    const { x, n, d, truth } = blobs(CENTRES, 20, 3);
    const idx = kmeansPlusPlus(x, n, d, 4, rng(5));
    assert.equal(new Set(idx).size, 4);
    assert.equal(new Set(idx.map((i) => truth[i])).size, 4);
  });

  it('never returns an empty cluster, even with duplicate rows', () => {
    const x = Float32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 5, 5]); // 6 points in 2-D, only 3 distinct
    const r = kmeans(x, 6, 2, { k: 3, restarts: 2, seed: 0 });
    assert.deepEqual(canonicalLabels(r.labels).sizes, [3, 2, 1]);
    assert.throws(() => kmeans(x, 6, 2, { k: 7 }), /k must be an integer from 1 to 6/);
  });
});

describe('Ward', () => {
  it('recovers separable blobs (ARI = 1) and its first merge is the closest pair', () => {
    const { x, n, d, truth } = blobs(CENTRES, 25, 2);
    const merges = wardLinkage(x, n, d);
    assert.equal(merges.length, n - 1);
    for (let i = 1; i < merges.length; i++) assert.ok(merges[i].height >= merges[i - 1].height - 1e-6, 'heights non-decreasing');
    assert.equal(ari(truth, cutTree(merges, n, 4)), 1);
    let best = Infinity;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t] - x[j * d + t]) ** 2;
      best = Math.min(best, Math.sqrt(s));
    }
    assert.ok(Math.abs(merges[0].height - best) < 1e-3, `first merge ${merges[0].height}, closest pair ${best}`);
  });

  it('merge heights match the hand-computed Ward distances on four points of a line', () => {
    // 0, 1, 5, 7: merge {0,1} at 1, {5,7} at 2, then √(2·ΔSS) with ΔSS = (2·2/4)·(6 − 0.5)² = 30.25 → √60.5.
    const merges = wardLinkage(Float32Array.from([0, 1, 5, 7]), 4, 1);
    assert.deepEqual(merges.map((m) => +m.height.toFixed(4)), [1, 2, +Math.sqrt(60.5).toFixed(4)]);
    assert.deepEqual(Array.from(cutTree(merges, 4, 2)), [0, 0, 1, 1]);
    assert.deepEqual(Array.from(cutTree(merges, 4, 3)), [0, 0, 1, 2]);
  });
});

describe('Hungarian matching', () => {
  it('recovers a known permutation', () => {
    const perm = [3, 0, 4, 1, 2];
    const score = perm.map((p) => Array.from({ length: 5 }, (_, j) => (j === p ? 10 : 1)));
    assert.deepEqual(maxAssignment(score).map(([, c]) => c), perm);
    // Labels renamed by the permutation: matched accuracy 1, NMI 1, ARI 1.
    const truth = Array.from({ length: 50 }, (_, i) => i % 5);
    const pred = truth.map((t) => perm[t]);
    const m = matchedAccuracy(truth, pred);
    assert.equal(m.accuracy, 1);
    perm.forEach((cl, cls) => assert.equal(m.mapping[cl], cls));
  });

  it('finds the minimum cost on random matrices (checked by brute force)', () => {
    const r = rng(11);
    const perms = (a: number[]): number[][] => (a.length <= 1 ? [a] : a.flatMap((x, i) => perms([...a.slice(0, i), ...a.slice(i + 1)]).map((p) => [x, ...p])));
    for (let trial = 0; trial < 20; trial++) {
      const n = 2 + (trial % 4);
      const cost = Array.from({ length: n }, () => Array.from({ length: n }, () => Math.round(r() * 20)));
      const got = hungarian(cost).reduce((s, c, i) => s + cost[i][c], 0);
      const best = Math.min(...perms([...Array(n).keys()]).map((p) => p.reduce((s, c, i) => s + cost[i][c], 0)));
      assert.equal(got, best);
    }
  });

  it('matches rectangular tables (more clusters than classes, and fewer)', () => {
    // truth 0,0,0,1,1,1 vs clusters 0,0,1,1,2,2: cluster 0 → class 0 (2), cluster 2 → class 1 (2).
    assert.equal(matchedAccuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]).accuracy, 4 / 6);
    assert.equal(matchedAccuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]).accuracy, 4 / 6);
  });
});

describe('NMI, ARI, silhouette against hand-computed values', () => {
  it('NMI and ARI of a 2-class, 3-cluster split', () => {
    const truth = [0, 0, 0, 1, 1, 1];
    const pred = [0, 0, 1, 1, 2, 2];
    assert.deepEqual(contingency(truth, pred), [[2, 1, 0], [0, 1, 2]]);
    // MI = (2/3) ln 2; H(truth) = ln 2, H(pred) = ln 3 → NMI = (4/3) ln 2 / ln 6.
    assert.ok(Math.abs(nmi(truth, pred) - ((4 / 3) * Math.log(2)) / Math.log(6)) < 1e-12);
    // Σ C(nij,2) = 2, rows 6, columns 3, C(6,2) = 15 → (2 − 1.2) / (4.5 − 1.2) = 8/33.
    assert.ok(Math.abs(ari(truth, pred) - 8 / 33) < 1e-12);
    assert.ok(ari([0, 0, 1, 1], [0, 1, 0, 1]) < 0, 'anti-correlated split scores below chance');
  });

  it('silhouette of five points on a line', () => {
    // 0, 2 | 10, 12, 15: s = 31/37, 25/31, 11/18, 17/22, 5/7.
    const x = Float32Array.from([0, 2, 10, 12, 15]);
    const dist = pairwiseDistances(x, 1, [0, 1, 2, 3, 4]);
    const expected = (31 / 37 + 25 / 31 + 11 / 18 + 17 / 22 + 5 / 7) / 5;
    assert.ok(Math.abs(silhouetteFromDistances(dist, 5, [0, 0, 1, 1, 1]) - expected) < 1e-6);
    // A point alone in its cluster counts 0: 0 | 2 | 10, 12, 15; for 10, 12, 15 b is now the mean distance to {2}: 8, 10, 13.
    const s2 = (0 + 0 + (8 - 3.5) / 8 + (10 - 2.5) / 10 + (13 - 4) / 13) / 5;
    assert.ok(Math.abs(silhouetteFromDistances(dist, 5, [0, 1, 2, 2, 2]) - s2) < 1e-6);
  });

  it('choosing k by silhouette finds the number of blobs', () => {
    const { x, n, d } = blobs(CENTRES, 20, 4);
    const sample = silhouetteSample(x, n, d, 1000);
    for (const method of ['kmeans', 'ward'] as const) {
      const r = chooseK(partitioner(x, n, d, { method, seed: 1 }), sample, [2, 7]);
      assert.equal(r.k, 4, `${method}: scores ${JSON.stringify(r.scores)}`);
      assert.equal(r.scores.length, 6);
    }
  });

  it('canonical labels: 0 is the largest cluster', () => {
    const c = canonicalLabels(Int32Array.from([2, 2, 0, 1, 1, 1]));
    assert.deepEqual(Array.from(c.labels), [1, 1, 2, 0, 0, 0]);
    assert.deepEqual(c.sizes, [3, 2, 1]);
  });
});

describe('PCA and products', () => {
  it('Jacobi eigen-decomposition of a known matrix', () => {
    const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
    assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
    assert.ok(Math.abs(Math.abs(vectors[0]) - Math.SQRT1_2) < 1e-12 && Math.abs(vectors[0] - vectors[2]) < 1e-12);
  });

  it('randomized PCA finds the planted axes and variances (vs the exact covariance)', () => {
    const r = rng(2);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const n = 400;
    const d = 80; // ≥ 64, so the products take the native path when it is there
    const u1 = Float64Array.from({ length: d }, () => gauss());
    const u2 = Float64Array.from({ length: d }, () => gauss());
    const nrm = (u: Float64Array) => Math.sqrt(u.reduce((s, v) => s + v * v, 0));
    const n1 = nrm(u1);
    u1.forEach((v, i, a) => (a[i] = v / n1));
    const dot = u2.reduce((s, v, i) => s + v * u1[i], 0);
    u2.forEach((v, i, a) => (a[i] = v - dot * u1[i]));
    const n2 = nrm(u2);
    u2.forEach((v, i, a) => (a[i] = v / n2));
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const a = 3 * gauss();
      const b = gauss();
      for (let t = 0; t < d; t++) x[i * d + t] = 1 + a * u1[t] + b * u2[t] + 0.01 * gauss();
    }
    const p = fitPca(x, n, d, 2, { seed: 3 });
    const cos = (c: number, u: Float64Array) => Math.abs(u.reduce((s, v, t) => s + v * p.components[c * d + t], 0));
    assert.ok(cos(0, u1) > 0.9999 && cos(1, u2) > 0.9999, `cosines ${cos(0, u1)}, ${cos(1, u2)}`);
    // Exact top eigenvalues of the sample covariance (Jacobi on d×d) agree.
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t] / n;
    const cov = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let s = 0; s < d; s++) for (let t = 0; t < d; t++) cov[s * d + t] += ((x[i * d + s] - mean[s]) * (x[i * d + t] - mean[t])) / (n - 1);
    const exact = symmetricEigen(cov, d).values;
    assert.ok(Math.abs(p.variances[0] - exact[0]) / exact[0] < 1e-4 && Math.abs(p.variances[1] - exact[1]) / exact[1] < 1e-4);
    // Whitened projections have unit variance.
    const y = transformPca(p, x, n, { whiten: true });
    for (let c = 0; c < 2; c++) {
      let v = 0;
      for (let i = 0; i < n; i++) v += y[i * 2 + c] ** 2 / (n - 1);
      assert.ok(Math.abs(v - 1) < 1e-3, `whitened variance ${v}`);
    }
  });

  it('L2-normalised rows have unit length; gemmABt matches a plain loop', () => {
    const r = rng(9);
    const a = Float32Array.from({ length: 7 * 96 }, () => r() - 0.5);
    const b = Float32Array.from({ length: 5 * 96 }, () => r() - 0.5);
    const c = gemmABt(a, b, 7, 96, 5);
    for (let i = 0; i < 7; i++) for (let j = 0; j < 5; j++) {
      let s = 0;
      for (let t = 0; t < 96; t++) s += a[i * 96 + t] * b[j * 96 + t];
      assert.ok(Math.abs(c[i * 5 + j] - s) < 1e-5);
    }
    l2NormalizeRows(a, 7, 96);
    for (let i = 0; i < 7; i++) assert.ok(Math.abs(a.subarray(i * 96, (i + 1) * 96).reduce((s, v) => s + v * v, 0) - 1) < 1e-5);
  });
});

it('umap2d: two separated blobs stay apart in 2-D, the same seed gives the same picture, too few rows is an error', async () => {
  const { umap2d } = await import('../src/strategies/cluster/umap.js');
  const { rng } = await import('../src/util/rng.js');
  const [n, d] = [80, 64];
  const r = rng(5);
  const x = Float32Array.from({ length: n * d }, (_, i) => r() + (Math.floor(i / d) < n / 2 ? 0 : 3));
  const a = umap2d(x, n, d, 1);
  const b = umap2d(x, n, d, 1);
  assert.deepEqual(a, b, 'seeded');
  // Every point is nearer (in the picture) to its own blob's centre than to the other's.
  const centre = (lo: number, hi: number) => [0, 1].map((k) => Array.from({ length: hi - lo }, (_, j) => (k ? a.ys : a.xs)[lo + j]!).reduce((s, v) => s + v, 0) / (hi - lo));
  const [c0, c1] = [centre(0, n / 2), centre(n / 2, n)];
  const dist = (i: number, c: number[]) => Math.hypot(a.xs[i]! - c[0]!, a.ys[i]! - c[1]!);
  for (let i = 0; i < n; i++) assert.ok(i < n / 2 ? dist(i, c0) < dist(i, c1) : dist(i, c1) < dist(i, c0), `point ${i} lands in the other blob`);
  assert.throws(() => umap2d(x, 10, d), /at least 20 rows/);
});
