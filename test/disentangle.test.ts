/** graft disentangle: the DSN losses against their definitions, probes, the recipe end to end, resume, bad input. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf, initTf } from '../src/engine/tfjs.js';
import { differenceLoss, mmd2, MMD_SCALES, scaleInvariantMse } from '../src/strategies/disentangle/dsn.js';
import { classProbe, domainProbe } from '../src/strategies/disentangle/probes.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { loadDataset } from '../src/data/index.js';
import { disentangle, type DisentangleOptions } from '../src/recipes/disentangle.js';
import { Classifier } from '../src/recipes/predict.js';
import { silentReporter, type Reporter } from '../src/util/log.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-dsn-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await initTf();
});

const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const randn = (n: number, d: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n * d }, () => gauss(r));
};

test('scale-invariant MSE: the definition, and a row shifted by a constant costs nothing', () => {
  const [n, k] = [5, 7];
  const x = randn(n, k, 1);
  const y = randn(n, k, 2);
  let want = 0;
  for (let i = 0; i < n; i++) {
    let sq = 0;
    let s = 0;
    for (let j = 0; j < k; j++) {
      const d = x[i * k + j] - y[i * k + j];
      sq += d * d;
      s += d;
    }
    want += sq / k - (s * s) / (k * k);
  }
  want /= n;
  const [tx, ty] = [tf.tensor2d(x, [n, k]), tf.tensor2d(y, [n, k])];
  const got = scaleInvariantMse(tx, ty);
  assert.ok(Math.abs(got.dataSync()[0] - want) < 1e-5, `${got.dataSync()[0]} vs ${want}`);
  const shifted = tf.add(tx, tf.tensor2d(Array.from({ length: n }, (_, i) => i - 2), [n, 1]));
  assert.ok(Math.abs(scaleInvariantMse(tx, shifted as tf.Tensor2D).dataSync()[0]) < 1e-5, 'a per-row shift is free');
  assert.ok(scaleInvariantMse(tx, tf.mul(tx, 2) as tf.Tensor2D).dataSync()[0] > 0.1, 'a scaling is not');
  tf.dispose([tx, ty, got, shifted]);
});

test('difference loss: zero for orthogonal codes, the definition otherwise, and its gradient by finite differences', () => {
  // Pairs of rows share a shared code and have opposite private codes: Hsᵀ Hp = 0 (also after centring and row normalisation).
  const [half, c] = [6, 4];
  const s0 = randn(half, c, 3);
  const p0 = randn(half, c, 4);
  const hs = new Float32Array(2 * half * c);
  const hp = new Float32Array(2 * half * c);
  for (let i = 0; i < half; i++)
    for (let j = 0; j < c; j++) {
      hs[i * c + j] = hs[(half + i) * c + j] = s0[i * c + j];
      hp[i * c + j] = p0[i * c + j];
      hp[(half + i) * c + j] = -p0[i * c + j];
    }
  const [ts, tp] = [tf.tensor2d(hs, [2 * half, c]), tf.tensor2d(hp, [2 * half, c])];
  const raw = tf.matMul(ts, tp, true, false);
  assert.ok(Math.max(...Array.from(raw.dataSync(), Math.abs)) < 1e-5, 'the codes are orthogonal over the batch');
  assert.ok(differenceLoss(ts, tp).dataSync()[0] < 1e-10, 'orthogonal codes: zero loss');
  // Identical codes: the loss is the mean squared correlation of a code with itself — large.
  const same = differenceLoss(ts, ts).dataSync()[0];
  // Hand definition on random codes: centre columns, normalise rows, mean of squared entries of Hpᵀ Hs.
  const [n, a, b] = [9, 3, 5];
  const A = randn(n, a, 5);
  const B = randn(n, b, 6);
  const prep = (M: Float32Array, w: number) => {
    const out = Float64Array.from(M);
    for (let j = 0; j < w; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += out[i * w + j] / n;
      for (let i = 0; i < n; i++) out[i * w + j] -= m;
    }
    for (let i = 0; i < n; i++) {
      let q = 0;
      for (let j = 0; j < w; j++) q += out[i * w + j] ** 2;
      for (let j = 0; j < w; j++) out[i * w + j] /= Math.sqrt(q) + 1e-6;
    }
    return out;
  };
  const [pa, pb] = [prep(A, a), prep(B, b)];
  let want = 0;
  for (let u = 0; u < b; u++)
    for (let v = 0; v < a; v++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += pb[i * b + u] * pa[i * a + v];
      want += dot * dot;
    }
  want /= a * b;
  const [tA, tB] = [tf.tensor2d(A, [n, a]), tf.tensor2d(B, [n, b])];
  const got = differenceLoss(tA, tB).dataSync()[0];
  assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, want), `${got} vs ${want}`);
  assert.ok(same > got && same > 0.1, `a code is correlated with itself (${same})`);
  // Gradient w.r.t. the shared code against central differences.
  const g = tf.grad((x: tf.Tensor) => differenceLoss(x as tf.Tensor2D, tB))(tA).dataSync();
  const eps = 1e-2;
  for (const idx of [0, 4, 11, 20]) {
    const plus = Float32Array.from(A);
    const minus = Float32Array.from(A);
    plus[idx] += eps;
    minus[idx] -= eps;
    const f = (M: Float32Array) => tf.tidy(() => differenceLoss(tf.tensor2d(M, [n, a]), tB).dataSync()[0]);
    const num = (f(plus) - f(minus)) / (2 * eps);
    assert.ok(Math.abs(num - g[idx]) < 2e-3 + 0.05 * Math.abs(num), `d/dA[${idx}]: autodiff ${g[idx]} vs numeric ${num}`);
  }
  tf.dispose([ts, tp, raw, tA, tB]);
});

test('MMD²: zero for identical batches, the definition (multi-bandwidth Gaussian kernel), larger for a larger shift', () => {
  const [n, d] = [6, 3];
  const a = randn(n, d, 21);
  const b = randn(n, d, 22);
  const ta = tf.tensor2d(a, [n, d]);
  assert.ok(Math.abs(mmd2(ta, ta).dataSync()[0]) < 1e-6, 'identical batches');
  // Hand definition: m = mean squared distance over distinct pooled pairs, k = mean over scales of exp(−d²/(s·m)).
  const z = [...Array.from({ length: n }, (_, i) => a.subarray(i * d, (i + 1) * d)), ...Array.from({ length: n }, (_, i) => b.subarray(i * d, (i + 1) * d))];
  const d2 = (p: Float32Array, q: Float32Array) => p.reduce((s, v, j) => s + (v - q[j]!) ** 2, 0);
  let m = 0;
  for (let i = 0; i < 2 * n; i++) for (let j = 0; j < 2 * n; j++) if (i !== j) m += d2(z[i]!, z[j]!);
  m = m / (4 * n * n - 2 * n) + 1e-6;
  const k = (p: Float32Array, q: Float32Array) => MMD_SCALES.reduce((s, sc) => s + Math.exp(-d2(p, q) / (sc * m)), 0) / MMD_SCALES.length;
  const mean = (f: (i: number, j: number) => number) => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += f(i, j);
    return s / (n * n);
  };
  const want = mean((i, j) => k(z[i]!, z[j]!)) + mean((i, j) => k(z[n + i]!, z[n + j]!)) - 2 * mean((i, j) => k(z[i]!, z[n + j]!));
  const tb = tf.tensor2d(b, [n, d]);
  const got = mmd2(ta, tb).dataSync()[0];
  assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
  const far = tf.add(tb, 3) as tf.Tensor2D;
  assert.ok(mmd2(ta, far).dataSync()[0] > got + 0.05, 'a shifted batch is further away');
  tf.dispose([ta, tb, far]);
});

test('probes: a code that carries the class (or the domain) is found by the probe, one that does not scores near chance', async () => {
  const [n, d] = [120, 6];
  const r = rng(9);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  const noise = randn(n, d, 10);
  const withClass = Float32Array.from(noise, (v, i) => v * 0.3 + (i % d === y[Math.floor(i / d)] ? 3 : 0));
  const split = (x: Float32Array) => ({ train: { x: x.slice(0, 80 * d), y: y.slice(0, 80), n: 80, dim: d }, test: { x: x.slice(80 * d), y: y.slice(80), n: 40, dim: d } });
  const a = split(withClass);
  assert.ok((await classProbe(a.train, a.test, 3))! > 0.95);
  const b = split(noise);
  assert.ok((await classProbe(b.train, b.test, 3))! < 0.6);
  const t = Float32Array.from({ length: n * d }, (_, i) => gauss(r) + (i % d === 0 ? 4 : 0));
  assert.ok((await domainProbe({ x: noise, n, dim: d }, { x: t, n, dim: d })) > 0.95, 'a shifted domain is told apart');
  const same = randn(n, d, 11);
  assert.ok((await domainProbe({ x: noise, n, dim: d }, { x: same, n, dim: d })) < 0.75, 'two draws of one distribution are not');
});

test('DSN objective on shifted Gaussian domains: the shared code keeps the class and loses the domain, the private code keeps the domain', async () => {
  const { buildDsnModules, dsnObjective } = await import('../src/strategies/disentangle/dsn.js');
  const { fitHead } = await import('../src/recipes/train.js');
  const { hiddenRows } = await import('../src/recipes/adapt-methods.js');
  const { standardize, columnStats } = await import('../src/train/heads.js');
  const [n, d] = [240, 10];
  const make = (seed: number, shift: number) => {
    const x = randn(n, d, seed);
    const y = Int32Array.from({ length: n }, (_, i) => i % 2);
    for (let i = 0; i < n; i++) {
      x[i * d] += y[i] ? 2.5 : -2.5;
      for (let j = 1; j <= 3; j++) x[i * d + j] += shift;
    }
    return { x, y, n, dim: d };
  };
  const s = make(31, 0);
  const t = make(32, 4);
  const raw = await domainProbe(s, t, 0);
  assert.ok(raw > 0.95, `the raw rows tell the domains apart (${raw})`);
  const modules = buildDsnModules(d, 32, 8, 0);
  let stats: { mean: Float32Array; std: Float32Array } | undefined;
  const pooled = columnStats(Float32Array.from([...s.x, ...t.x]), 2 * n, d);
  const fitted = await fitHead({ ...s, x: s.x.slice() }, { x: new Float32Array(0), y: new Int32Array(0), n: 0, dim: d }, 2, {
    head: 'mlp',
    hidden: [32, 8],
    dropout: 0,
    optimizer: 'adamw',
    lr: 3e-3,
    epochs: 40,
    patience: 0,
    seed: 0,
    standardizeWith: pooled,
    objective: (st) => {
      stats = st;
      return dsnObjective({ target: { ...t, x: standardize(t.x, n, d, st.mean, st.std) }, modules, seed: 0, similarity: 3 });
    },
    trainer: { restoreBest: false },
  });
  const hs = { ...hiddenRows(fitted.head, s.x, n, d), n };
  const ht = { ...hiddenRows(fitted.head, t.x, n, d), n };
  const sharedDomain = await domainProbe(hs, ht, 0);
  const sharedClass = await classProbe({ ...hs, x: hs.x.slice(0, 160 * hs.dim), y: s.y.slice(0, 160), n: 160 }, { ...hs, x: hs.x.slice(160 * hs.dim), y: s.y.slice(160), n: 80 }, 2);
  const priv = (m: typeof modules.privateSource, r: typeof s) => {
    const out = tf.tidy(() => m.predict(tf.tensor2d(standardize(r.x, n, d, stats!.mean, stats!.std), [n, d])) as tf.Tensor);
    const x = out.dataSync() as Float32Array;
    out.dispose();
    return { x: Float32Array.from(x), n, dim: 8 };
  };
  const privateDomain = await domainProbe(priv(modules.privateSource, s), priv(modules.privateTarget, t), 0);
  assert.ok(sharedDomain < 0.75, `the shared code hides the domain (domain probe ${sharedDomain}, raw ${raw})`);
  assert.ok(sharedClass! > 0.9, `the shared code keeps the class (${sharedClass})`);
  assert.ok(privateDomain > 0.9, `the private codes keep the domain (${privateDomain})`);
  fitted.head.dispose();
  for (const m of Object.values(modules)) m.dispose();
});

const classes = [0, 1, 2];
const src = path.join(tmp, 'mnist');
const tgt = path.join(tmp, 'fonts');

test('graft disentangle end to end: probes, target accuracy next to source-only and DANN, an ordinary bundle, report, flat tensors', async () => {
  await writeDomainFolder(src, 'mnist', { perClass: 40, classes });
  await writeDomainFolder(tgt, 'font-digits', { perClass: 16, classes, seed: 4 });
  fs.writeFileSync(path.join(tgt, '1', 'broken.png'), 'not a png');
  const o: DisentangleOptions = { source: src, target: tgt, out: path.join(tmp, 'dsn'), epochs: 10, hidden: 64, code: 16, valPercent: 25, testPercent: 0, seed: 1 };
  await disentangle({ ...o, out: path.join(tmp, 'warm'), epochs: 1, baselines: false }); // features into the store
  const before = tf.memory().numTensors;
  const res = await disentangle(o);
  assert.ok(tf.memory().numTensors <= before + 2, `tensors leak: ${before} → ${tf.memory().numTensors}`);
  assert.equal(res.targetData.images, 48);
  assert.ok(res.targetData.skipped.some((s) => s.file.endsWith('broken.png')), 'the corrupt target file is skipped and reported');
  assert.equal(res.targetData.labels, 'target-folders');
  for (const space of ['shared', 'private', 'backbone'] as const) {
    const p = res.probes[space];
    assert.ok(p.class !== null && p.class >= 0 && p.class <= 1 && p.domain >= 0 && p.domain <= 1, `${space}: ${JSON.stringify(p)}`);
  }
  assert.ok(res.probes.private.domain >= 0.75, `each domain has its own private encoder: its code tells the domain (${res.probes.private.domain})`);
  assert.ok(res.probes.shared.class! > 1 / 3 + 0.2, `the shared code carries the class (${res.probes.shared.class})`);
  for (const k of ['targetAccuracy', 'sourceOnlyTargetAccuracy', 'dannTargetAccuracy'] as const) assert.ok(res[k] !== null && res[k]! >= 0 && res[k]! <= 1, k);
  assert.equal(res.history.length, 10);
  for (const t of ['ce', 'recon', 'difference', 'similarity', 'domainAccuracy']) assert.ok(Number.isFinite(res.history[9]!.terms![t]), t);
  assert.ok(res.history[9]!.terms!.difference < res.history[0]!.terms!.difference, 'the shared and private codes are pushed apart');
  for (const f of ['report.html', 'disentangle.json', 'disentangle-pca-1-domain.png', 'disentangle-umap-2-class.png', 'disentangle-losses.png']) assert.ok(fs.existsSync(path.join(o.out, f)), f);
  assert.ok(!fs.existsSync(path.join(o.out, '.dsn.ckpt')), 'the finished run leaves no checkpoint');
  const json = JSON.parse(fs.readFileSync(res.disentangleJson, 'utf8'));
  assert.deepEqual(json.probes, res.probes);
  // An ordinary bundle: it reloads and gives the same target accuracy as the run measured.
  const ds = await loadDataset(tgt, { valPercent: 0, testPercent: 0 });
  const c = await Classifier.load(res.bundle);
  const pr = await c.probabilities(ds.samples);
  let ok = 0;
  pr.samples.forEach((s, i) => {
    const row = Array.from(pr.probs.subarray(i * 3, (i + 1) * 3));
    if (row.indexOf(Math.max(...row)) === s.label) ok++;
  });
  assert.ok(Math.abs(ok / pr.samples.length - res.targetAccuracy!) < 1e-9, `reloaded bundle: ${ok / pr.samples.length} vs ${res.targetAccuracy}`);
  await c.dispose();
});

test('disentangle: an interrupted run resumes from its checkpoint to the same weights', async () => {
  const o: DisentangleOptions = { source: src, target: tgt, epochs: 4, hidden: 32, code: 8, valPercent: 25, testPercent: 0, seed: 2, baselines: false, out: path.join(tmp, 'full') };
  const full = await disentangle(o);
  const out = path.join(tmp, 'cut');
  let ticks = 0;
  const stopper: Reporter = { ...silentReporter, progress: (label, total) => (label === 'epochs' ? { tick: () => { if (++ticks === 3) throw new Error('interrupted'); }, done: () => undefined } : silentReporter.progress(label, total)) };
  await assert.rejects(disentangle({ ...o, out, reporter: stopper }), /interrupted/);
  assert.ok(fs.existsSync(path.join(out, '.dsn.ckpt')), 'a checkpoint is left behind');
  const resumed = await disentangle({ ...o, out, resume: true });
  assert.equal(resumed.history.length, 4);
  const w1 = fs.readFileSync(path.join(full.bundle, 'weights.bin'));
  const w2 = fs.readFileSync(path.join(resumed.bundle, 'weights.bin'));
  assert.ok(w1.equals(w2), 'resumed = uninterrupted, bit for bit');
});

test('disentangle: one-line errors for a single domain, an empty or one-image target, unknown target classes, bad settings', async () => {
  const out = path.join(tmp, 'bad');
  await assert.rejects(disentangle({ source: src, target: src, out }), /needs two domains: --source and --target are the same folder/);
  const copy = path.join(tmp, 'copy');
  fs.cpSync(src, copy, { recursive: true });
  await assert.rejects(disentangle({ source: src, target: copy, out, valPercent: 0, testPercent: 0 }), /needs two domains: every image in .* is also in the source/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  await assert.rejects(disentangle({ source: src, target: empty, out }), /no images/);
  const one = path.join(tmp, 'one');
  fs.mkdirSync(one);
  fs.copyFileSync(path.join(tgt, '0', fs.readdirSync(path.join(tgt, '0'))[0]!), path.join(one, 'a.png'));
  await assert.rejects(disentangle({ source: src, target: one, out }), /at least 2 readable images/);
  const odd = path.join(tmp, 'odd');
  await writeDomainFolder(odd, 'font-digits', { perClass: 2, classes: [0, 7], seed: 5 });
  await assert.rejects(disentangle({ source: src, target: tgt, targetTest: odd, out }), /class folders the source does not have: 7/);
  await assert.rejects(disentangle({ source: src, target: tgt, out, code: 0 }), /--code must be an integer ≥ 1/);
  await assert.rejects(disentangle({ source: src, target: tgt, out, similarity: -1, epochs: 1 }), /similarity weight must be a number ≥ 0/);
});

test('graft disentangle CLI: --json prints the probes and target accuracies; a missing --target is a one-line usage error', async () => {
  const { spawnSync } = await import('node:child_process');
  const bin = path.join(import.meta.dirname, '..', 'bin', 'graft.js');
  const out = path.join(tmp, 'cli');
  const r = spawnSync(process.execPath, [bin, 'disentangle', '--source', src, '--target', tgt, '--out', out, '--epochs', '2', '--hidden', '16', '--code', '4', '--no-baselines', '--val-percent', '25', '--test-percent', '0', '--json'], { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.bundle, path.join(out, 'model'));
  for (const s of ['shared', 'private', 'backbone']) assert.ok(typeof j.probes[s].domain === 'number' && typeof j.probes[s].class === 'number', s);
  assert.ok(typeof j.targetAccuracy === 'number' && j.sourceOnlyTargetAccuracy === null && j.dannTargetAccuracy === null);
  assert.equal(j.epochs, 2);
  const bad = spawnSync(process.execPath, [bin, 'disentangle', '--source', src, '--out', out], { encoding: 'utf8', env: process.env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /a single domain cannot be disentangled: give both/);
});
