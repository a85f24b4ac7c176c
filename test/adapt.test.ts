/** graft adapt: CORAL, gradient reversal, DANN ramps, class-balanced pseudo-labels, DEV, and the recipe end to end. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf, initTf } from '../src/engine/tfjs.js';
import { applyCoral, fitCoral, meanAndCovariance, sqrtAndInvSqrt } from '../src/strategies/adapt/coral.js';
import { dannLambda, dannLr, gradReverse } from '../src/strategies/adapt/dann.js';
import { argmaxRows, classBalancedPseudoLabels } from '../src/strategies/adapt/pseudo.js';
import { densityRatios, devRisk, ensembleAgreement } from '../src/strategies/adapt/selection.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { loadDataset } from '../src/data/index.js';
import { adapt } from '../src/recipes/adapt.js';
import { Classifier } from '../src/recipes/predict.js';
import { rng } from '../src/util/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-adapt-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

before(async () => {
  await initTf();
});

/** n rows of d correlated Gaussian features: z·L + shift, L a random mixing matrix. */
function correlated(n: number, d: number, seed: number, shift = 0): Float32Array {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const L = Array.from({ length: d * d }, () => gauss());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: d }, gauss);
    for (let j = 0; j < d; j++) {
      let v = shift;
      for (let t = 0; t < d; t++) v += z[t] * L[t * d + j];
      x[i * d + j] = v;
    }
  }
  return x;
}

const covOf = (x: Float32Array, n: number, d: number) => {
  const { mean, cov } = meanAndCovariance(x, n, d);
  const out = { mean: Array.from(mean.dataSync()), cov: Array.from(cov.dataSync()) };
  mean.dispose();
  cov.dispose();
  return out;
};

test('Newton–Schulz gives A^1/2 and A^-1/2 of an SPD matrix', () => {
  const d = 8;
  const x = correlated(400, d, 3);
  const { mean, cov } = meanAndCovariance(x, 400, d);
  const r = sqrtAndInvSqrt(cov);
  const back = tf.matMul(r.sqrt, r.sqrt);
  const eye = tf.matMul(r.sqrt, r.invSqrt);
  const a = cov.dataSync();
  const scale = Math.max(...Array.from(a, Math.abs));
  Array.from(back.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - a[i]) < 1e-3 * scale, `S·S ≠ A at ${i}: ${v} vs ${a[i]}`));
  Array.from(eye.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - (i % (d + 1) === 0 ? 1 : 0)) < 1e-3, `S·S^-1 ≠ I at ${i}: ${v}`));
  tf.dispose([mean, cov, r.sqrt, r.invSqrt, back, eye]);
});

test('CORAL gives the source rows the target covariance and mean', () => {
  const d = 6;
  const ns = 3000;
  const nt = 2500;
  const xs = correlated(ns, d, 1);
  const xt = correlated(nt, d, 2, 3);
  const before = tf.memory().numTensors;
  const map = fitCoral({ x: xs, n: ns }, { x: xt, n: nt }, d, 1e-6);
  const moved = applyCoral(map, xs, ns);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  const a = covOf(moved, ns, d);
  const t = covOf(xt, nt, d);
  const s = covOf(xs, ns, d);
  const scale = Math.max(...t.cov.map(Math.abs));
  const gap = (p: number[], q: number[]) => Math.max(...p.map((v, i) => Math.abs(v - q[i])));
  assert.ok(gap(a.cov, t.cov) < 2e-3 * scale, `covariance after CORAL differs from the target's by ${gap(a.cov, t.cov)}`);
  assert.ok(gap(s.cov, t.cov) > 0.1 * scale, 'the test domains really differ');
  assert.ok(gap(a.mean, t.mean) < 1e-3 * Math.max(1, ...t.mean.map(Math.abs)), 'means aligned');
});

test('gradient reversal is the identity forwards and flips (and scales) the gradient, as autodiff sees it', () => {
  const x = tf.tensor2d([[1, -2, 3], [0.5, 4, -1]]);
  const w = tf.tensor2d([[2, -1, 0.5], [3, 1, -2]]);
  const lambda = 0.7;
  const y = gradReverse(x, lambda);
  assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()));
  const plain = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.square(a), w)))(x);
  const reversed = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.square(gradReverse(a, lambda)), w)))(x);
  const p = plain.dataSync();
  Array.from(reversed.dataSync()).forEach((v, i) => assert.ok(Math.abs(v + lambda * p[i]) < 1e-6, `reversed ${v} vs −λ·${p[i]}`));
  tf.dispose([x, w, y, plain, reversed]);
});

test("DANN's λ and learning-rate ramps follow the paper", () => {
  assert.equal(dannLambda(0), 0);
  assert.ok(Math.abs(dannLambda(0.5) - (2 / (1 + Math.exp(-5)) - 1)) < 1e-12);
  assert.ok(dannLambda(0.999) > 0.99);
  const lr = dannLr(0.01);
  assert.equal(lr(0, 100), 0.01);
  assert.ok(Math.abs(lr(100, 100) - 0.01 / Math.pow(11, 0.75)) < 1e-12);
});

test('class-balanced pseudo-labels keep every predicted class where one global threshold keeps one', () => {
  // 3 classes; class 0's rows are all very confident, classes 1 and 2 less so.
  const k = 3;
  const conf = [0.99, 0.98, 0.97, 0.96, 0.95, 0.7, 0.65, 0.6, 0.55, 0.6, 0.58, 0.52];
  const cls = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2];
  const n = conf.length;
  const probs = new Float32Array(n * k);
  conf.forEach((c, i) => {
    for (let j = 0; j < k; j++) probs[i * k + j] = j === cls[i] ? c : (1 - c) / (k - 1);
  });
  const top = [...argmaxRows(probs, n, k).confidence].map((c, i) => [c, i]).sort((a, b) => b[0] - a[0]).slice(0, 4).map(([, i]) => cls[i]);
  assert.deepEqual([...new Set(top)], [0], 'a global top-third keeps class 0 only');
  const pl = classBalancedPseudoLabels(probs, n, k, 1 / 3);
  assert.deepEqual(pl.counts, [2, 1, 1]);
  assert.deepEqual([...new Set(pl.labels)].sort(), [0, 1, 2]);
  assert.deepEqual(Array.from(pl.idx), [0, 1, 5, 9], 'the most confident rows of each class');
});

test('DEV: with unit weights it is the mean loss; the control variate corrects a weight-correlated loss', () => {
  const loss = [0.1, 0.5, 0.3, 0.9];
  assert.ok(Math.abs(devRisk(loss, [1, 1, 1, 1]).risk - 0.45) < 1e-12);
  const w = densityRatios([0.5, 0.5, 0.5, 0.5], 10, 10);
  assert.deepEqual(Array.from(w), [1, 1, 1, 1]);
  // Weights whose mean is off 1: the control variate pulls the estimate toward the unbiased one.
  const r = devRisk([1, 1, 1, 1], [2, 4, 2, 4]);
  assert.ok(Math.abs(r.risk - 1) < 1e-12, `a constant loss has risk 1 whatever the weights, got ${r.risk}`);
});

test('graft adapt end to end on a small MNIST → MNIST-M-like pair: single and stacked methods, DEV / SND / IM / BNM / EnsV picks, ordinary bundles, same seed same weights', async () => {
  const src = path.join(tmp, 'mnist');
  const tgt = path.join(tmp, 'mnistm');
  const classes = [0, 1, 2, 3];
  await writeDomainFolder(src, 'mnist', { perClass: 30, classes });
  await writeDomainFolder(tgt, 'mnist-m', { perClass: 15, classes, offset: 100, seed: 2 });
  fs.writeFileSync(path.join(tgt, '1', 'broken.png'), 'not a png');
  const list = ['source-only', 'coral', 'dann', 'self-train', 'coral+self-train', 'dann+self-train'] as const;
  const o = { source: src, target: tgt, out: path.join(tmp, 'da'), method: [...list], valPercent: 20, testPercent: 10, dannEpochs: 4, selfTrainRounds: 2, seed: 3, adabnImages: 8 };
  const res = await adapt(o);
  assert.deepEqual(Object.keys(res.methods), [...list], 'a list of methods: each trained, stacks too');
  assert.equal(res.target.images, 60);
  assert.ok(res.target.skipped.some((s) => s.file.endsWith('broken.png')), 'the corrupt target file is skipped and reported');
  assert.equal(res.target.labels, 'target-folders');
  for (const [m, r] of Object.entries(res.methods)) {
    assert.ok(r && r.sourceValAccuracy !== null && r.devRisk !== null && Number.isFinite(r.devRisk) && Number.isFinite(r.snd) && Number.isFinite(r.im) && Number.isFinite(r.bnm) && r.ensv !== null && r.ensv >= 0 && r.ensv <= 1, `${m}: scored by DEV, SND, IM, BNM and EnsV`);
    assert.equal(r!.selectionScore, r!.ensv, `${m}: EnsV is the default criterion`);
    assert.ok(r!.targetAccuracy !== null && r!.targetAccuracy >= 0 && r!.targetAccuracy <= 1);
    assert.ok(fs.existsSync(path.join(r!.bundle, 'graft.json')), `${m}: bundle written`);
  }
  const lowest = Object.entries(res.methods).reduce((a, b) => (b[1]!.devRisk! < a[1]!.devRisk! ? b : a))[0];
  const densest = Object.entries(res.methods).reduce((a, b) => (b[1]!.snd > a[1]!.snd ? b : a))[0];
  const highest = (c: 'im' | 'bnm') => Object.entries(res.methods).reduce((a, b) => (b[1]![c] > a[1]![c] ? b : a))[0];
  const agreeing = Object.entries(res.methods).reduce((a, b) => (b[1]!.ensv! > a[1]!.ensv! ? b : a))[0];
  assert.deepEqual(res.selection.picks, { dev: lowest, snd: densest, im: highest('im'), bnm: highest('bnm'), ensv: agreeing });
  // EnsV recomputed from the target probabilities the run wrote: each method against the mean of all.
  const k = classes.length;
  const pool = list.map((m) => new Float32Array(new Uint8Array(fs.readFileSync(path.join(o.out, 'target-probabilities', `${m}.f32`))).buffer));
  assert.ok(pool.every((p) => p.length === res.target.images * k), 'n×k target probabilities per method');
  const recomputed = ensembleAgreement(pool, res.target.images, k);
  list.forEach((m, i) => assert.ok(Math.abs(recomputed[i]! - res.methods[m]!.ensv!) < 1e-12, `${m}: EnsV ${res.methods[m]!.ensv} = ${recomputed[i]}`));
  assert.equal(res.chosen, agreeing, 'the highest EnsV is chosen');
  assert.equal(res.selection.criterion, 'ensv');
  assert.equal(res.selection.chosenBy, 'ensv');
  const best = res.selection.oracleBest!;
  assert.equal(res.selection.oracleAgreement!.snd, densest === best);
  assert.ok(Math.abs(res.selection.belowBest!.dev - 100 * (res.methods[best]!.targetAccuracy! - res.methods[lowest]!.targetAccuracy!)) < 1e-9);
  assert.ok((res.methods['coral+self-train']!.details.rounds as unknown[]).length >= 1, 'coral+self-train self-trains');
  const dd = res.methods.dann!.details.domainAccuracy as number[];
  assert.equal(dd.length, 4, 'DANN logs its domain classifier accuracy per epoch');
  for (const f of ['report.html', 'adapt.json', 'adapt-pca-0-domain.png', 'adapt-umap-0-class.png']) assert.ok(fs.existsSync(path.join(o.out, f)), f);
  // The chosen bundle is an ordinary bundle: it reloads and predicts the target like its method's bundle.
  const ds = await loadDataset(tgt, { valPercent: 0, testPercent: 0 });
  const files = ds.samples.slice(0, 6).map((s) => s.file!);
  const a = await Classifier.load(res.bundle);
  const b = await Classifier.load(res.methods[res.chosen]!.bundle);
  const pa = await a.probabilities(ds.samples.slice(0, 6));
  const pb = await b.probabilities(ds.samples.slice(0, 6));
  assert.deepEqual(Array.from(pa.probs), Array.from(pb.probs));
  assert.equal((await a.predictFiles(files)).predictions.length, 6);
  await a.dispose();
  await b.dispose();
  // Same seed → same weights (features now come from the store).
  const again = await adapt({ ...o, out: path.join(tmp, 'da2'), method: 'dann' });
  const w1 = fs.readFileSync(path.join(res.methods.dann!.bundle, 'weights.bin'));
  const w2 = fs.readFileSync(path.join(again.bundle, 'weights.bin'));
  assert.ok(w1.equals(w2), 'DANN rerun with the same seed gives the same weights');
  // --selection snd: the highest soft neighbourhood density chooses.
  const bySnd = await adapt({ ...o, out: path.join(tmp, 'da3'), method: ['source-only', 'coral'], selection: 'snd' });
  const sndBest = bySnd.methods['source-only']!.snd > bySnd.methods.coral!.snd ? 'source-only' : 'coral';
  assert.equal(bySnd.chosen, sndBest);
  assert.equal(bySnd.selection.chosenBy, 'snd');
  assert.equal(bySnd.methods.coral!.selectionScore, bySnd.methods.coral!.snd);
  // --selection dev: the lowest DEV risk chooses.
  const byDev = await adapt({ ...o, out: path.join(tmp, 'da4'), method: ['source-only', 'coral'], selection: 'dev' });
  assert.equal(byDev.chosen, byDev.methods['source-only']!.devRisk! <= byDev.methods.coral!.devRisk! ? 'source-only' : 'coral');
  assert.equal(byDev.selection.chosenBy, 'dev');
  assert.equal(byDev.methods.coral!.selectionScore, byDev.methods.coral!.devRisk);
});

test('adapt: clear one-line errors for bad targets, unknown classes and methods', async () => {
  const src = path.join(tmp, 'mnist');
  const one = path.join(tmp, 'one');
  fs.mkdirSync(one, { recursive: true });
  fs.copyFileSync(path.join(src, '0', '0.png'), path.join(one, 'a.png'));
  await assert.rejects(adapt({ source: src, target: one, out: path.join(tmp, 'x1'), method: 'source-only' }), /at least 2 readable images/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  await assert.rejects(adapt({ source: src, target: empty, out: path.join(tmp, 'x2') }), /no images/);
  const odd = path.join(tmp, 'odd');
  await writeDomainFolder(odd, 'mnist-m', { perClass: 3, classes: [0, 7], seed: 5 });
  await assert.rejects(adapt({ source: src, target: path.join(tmp, 'mnistm'), targetTest: odd, out: path.join(tmp, 'x3'), method: 'source-only' }), /class folders the source does not have: 7/);
  await assert.rejects(adapt({ source: src, target: one, out: path.join(tmp, 'x4'), method: 'magic' as never }), /unknown adapt method "magic"/);
  const { encodeWav } = await import('../src/audio/wav.js');
  const sounds = path.join(tmp, 'sounds');
  fs.mkdirSync(sounds, { recursive: true });
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(sounds, `s${i}.wav`), encodeWav([Float32Array.from({ length: 8000 }, (_, j) => Math.sin(j * (0.05 + 0.01 * i)))], { sampleRate: 16000 }));
  await assert.rejects(adapt({ source: src, target: sounds, out: path.join(tmp, 'x5'), method: 'source-only' }), /--target .*sounds holds sounds but the source holds images: both domains must be the same kind of input/);
});

test('adapt --unfreeze 1: DANN and Deep CORAL on the fine-tuned last block give ordinary tail bundles', async () => {
  const src = path.join(tmp, 'mnist');
  const tgt = path.join(tmp, 'mnistm');
  const o = { source: src, target: tgt, out: path.join(tmp, 'da-tail'), unfreeze: 1, epochs: 1, valPercent: 20, testPercent: 10, seed: 1 };
  await assert.rejects(adapt({ ...o, method: 'self-train' }), /runs on frozen features/);
  const res = await adapt({ ...o, method: 'dann' });
  const d = res.methods.dann!;
  assert.equal((d.details.domainAccuracy as number[]).filter(Number.isFinite).length, 1, 'one unfrozen epoch with the domain discriminator');
  const meta = JSON.parse(fs.readFileSync(path.join(res.bundle, 'graft.json'), 'utf8'));
  assert.equal(meta.head.kind, 'tail');
  const ds = await loadDataset(tgt, { valPercent: 0, testPercent: 0 });
  const clf = await Classifier.load(res.bundle);
  const p = await clf.probabilities(ds.samples.slice(0, 4));
  assert.equal(p.probs.length, 4 * 4);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(p.probs.slice(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0) - 1) < 1e-4);
  await clf.dispose();
  const c = await adapt({ ...o, out: path.join(tmp, 'da-coral'), method: 'coral' });
  assert.ok((c.methods.coral!.details.coralLoss as number[]).some(Number.isFinite), 'the Deep CORAL term is logged');
});

test("AdaBN sets every tail BatchNorm layer's statistics to those of its input on the target, layer by layer", async () => {
  const { resolveBackbone } = await import('../src/models/resolve.js');
  const { DEFAULT_BACKBONE } = await import('../src/models/registry.js');
  const { buildTailModel, resolveCut } = await import('../src/recipes/finetune.js');
  const { adaBn, inputModel, tailOf } = await import('../src/strategies/adapt/adabn.js');
  const spec = await resolveBackbone(DEFAULT_BACKBONE);
  const { model: full } = await spec.load();
  const { cut } = resolveCut(spec, { unfreeze: 2 });
  const shape = (full.getLayer(cut).output as { shape: number[] }).shape.slice(1);
  const dim = shape.reduce((a, b) => a * b, 1);
  const { model: other } = await spec.load(); // folding patches the shared layers: a copy of its own
  const folded = buildTailModel(spec, other, cut, dim, 3, { seed: 1 }).model; // fine-tuning's default: frozen BN folded into the convolutions
  assert.throws(() => adaBn(folded, { x: new Float32Array(dim), n: 1, dim }), /BatchNorm .* is folded into its convolution/, 'a folded tail is refused, not silently mis-estimated');
  folded.dispose();
  other.dispose();
  const { model } = buildTailModel(spec, full, cut, dim, 3, { seed: 1, foldBatchNorm: false });
  const n = 24;
  const r = rng(7);
  const x = Float32Array.from({ length: n * dim }, () => Math.max(0, r() * 3 - 1)); // ReLU6-like activations
  const tail = tailOf(model);
  tf.dispose(tail.predict(tf.zeros([1, ...shape])) as tf.Tensor); // frozen BN layers cache their affine maps on first use
  const before = tf.memory().numTensors;
  const names = adaBn(model, { x, n, dim }, 10);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.ok(names.length >= 2, `the last two blocks' BN layers: ${names.join(', ')}`);
  for (const name of names) {
    // Reference: run the (adapted) tail up to this layer's input, two-pass statistics in float64.
    const bn = tail.getLayer(name);
    const sub = inputModel(tail, bn);
    const y = tf.tidy(() => sub.predict(tf.reshape(tf.tensor2d(x, [n, dim]), [n, ...shape])) as tf.Tensor);
    const ch = y.shape[y.shape.length - 1]!;
    const v = y.dataSync();
    const m = v.length / ch;
    const mean = new Float64Array(ch);
    const vr = new Float64Array(ch);
    for (let i = 0; i < v.length; i++) mean[i % ch] += v[i] / m;
    for (let i = 0; i < v.length; i++) vr[i % ch] += (v[i] - mean[i % ch]) ** 2 / m;
    y.dispose();
    const [, , mm, mv] = bn.getWeights();
    const gm = mm.dataSync();
    const gv = mv.dataSync();
    for (let c = 0; c < ch; c++) {
      assert.ok(Math.abs(gm[c] - mean[c]) < 1e-3 * (1 + Math.abs(mean[c])), `${name} mean[${c}] ${gm[c]} vs ${mean[c]}`);
      assert.ok(Math.abs(gv[c] - vr[c]) < 2e-3 * (1 + vr[c]), `${name} variance[${c}] ${gv[c]} vs ${vr[c]}`);
    }
  }
  model.dispose();
  full.dispose();
});

test('adapt --method dann: an interrupted run resumes from its checkpoint to the same weights', async () => {
  const { silentReporter } = await import('../src/util/log.js');
  const o = { source: path.join(tmp, 'mnist'), target: path.join(tmp, 'mnistm'), method: 'dann' as const, valPercent: 20, testPercent: 10, dannEpochs: 4, seed: 5 };
  const full = await adapt({ ...o, out: path.join(tmp, 'dann-full') });
  const out = path.join(tmp, 'dann-cut');
  let ticks = 0;
  const stopper = { ...silentReporter, progress: (label: string, total: number) => (label === 'epochs' ? { tick: () => { if (++ticks === 3) throw new Error('interrupted'); }, done: () => undefined } : silentReporter.progress(label, total)) };
  await assert.rejects(adapt({ ...o, out, reporter: stopper }), /interrupted/);
  assert.ok(fs.existsSync(path.join(out, '.dann.ckpt')), 'the checkpoint is left behind');
  const resumed = await adapt({ ...o, out, resume: true });
  assert.equal((resumed.methods.dann!.details.domainAccuracy as number[]).length, 4, 'all four epochs in the history');
  assert.ok(fs.readFileSync(path.join(resumed.bundle, 'weights.bin')).equals(fs.readFileSync(path.join(full.bundle, 'weights.bin'))), 'resumed = uninterrupted, bit for bit');
  assert.ok(!fs.existsSync(path.join(out, '.dann.ckpt')), 'finished: the checkpoint is removed');
});

test('adapt --method adabn,adabn+self-train (--unfreeze 0): every BatchNorm of the backbone re-estimated on the target, shared by both; a whole-network bundle that scores the target as the run says', { timeout: 300_000 }, async () => {
  const { INPUT_CUT } = await import('../src/models/tail.js');
  const { loadBundle } = await import('../src/bundle/bundle.js');
  const { getBackbone } = await import('../src/models/registry.js');
  const { decodeToTensorData } = await import('../src/data/decode.js');
  const tfl = await import('@tensorflow/tfjs-layers');
  const src = path.join(tmp, 'mnist');
  const tgt = path.join(tmp, 'mnistm16');
  await writeDomainFolder(tgt, 'mnist-m', { perClass: 4, classes: [0, 1, 2, 3], offset: 300, seed: 9 });
  const res = await adapt({ source: src, target: tgt, out: path.join(tmp, 'adabn'), method: ['adabn', 'adabn+self-train'], selfTrainRounds: 2, adabnImages: 16, valPercent: 20, testPercent: 10, seed: 1 });
  const r = res.methods.adabn!;
  assert.equal(res.methods['adabn+self-train']!.details.sharedSeconds, r.details.sharedSeconds, 'the AdaBN methods share one pass of each domain through its network');
  assert.ok((res.methods['adabn+self-train']!.details.rounds as unknown[]).length >= 1, 'adabn+self-train self-trains on the adapted features');
  assert.ok(Number.isFinite(r.devRisk) && r.devMeanWeight! > 0, 'DEV scores AdaBN on its own representation (each domain through its network)');
  assert.equal(r.details.targetImages, 16);
  assert.ok((r.details.batchNormLayers as number) >= 10, `BN layers: ${r.details.batchNormLayers}`);
  const { meta, head: net } = await loadBundle(r.bundle);
  assert.equal(meta.head.kind === 'tail' && meta.head.cut, INPUT_CUT, 'a whole-network bundle');
  // The first BN layer's statistics are the target's: the mean/variance of the first conv's output over the 16 target images.
  const bns: any[] = [];
  const walk = (layers: any[]) => layers.forEach((l) => (l.getClassName() === 'BatchNormalization' ? bns.push(l) : l.layers && walk(l.layers)));
  walk(net.layers);
  const first = bns[0];
  const spec = getBackbone('mobilenet_v2');
  const { model: full } = await spec.load({});
  const orig = full.getLayer(first.name);
  const sub = tfl.model({ inputs: full.inputs, outputs: orig.inboundNodes[0]!.inputTensors[0] as any });
  const ds = await loadDataset(tgt, { valPercent: 0, testPercent: 0 });
  const [h, w] = spec.preprocess.size;
  const x = new Float32Array(ds.samples.length * h * w * 3);
  for (const [i, s] of ds.samples.entries()) x.set(await decodeToTensorData(s, spec.preprocess), i * h * w * 3);
  const { mean, variance } = tf.tidy(() => {
    const y = sub.predict(tf.tensor4d(x, [ds.samples.length, h, w, 3])) as tf.Tensor;
    const m = tf.moments(y, [0, 1, 2]);
    return { mean: Array.from(m.mean.dataSync()), variance: Array.from(m.variance.dataSync()) };
  });
  const got = { mean: Array.from(first.movingMean.read().dataSync() as Float32Array), variance: Array.from(first.movingVariance.read().dataSync() as Float32Array) };
  const pretrained = Array.from((orig as any).movingMean.read().dataSync() as Float32Array);
  mean.forEach((v, c) => assert.ok(Math.abs(got.mean[c]! - v) < 1e-3 * (1 + Math.abs(v)), `channel ${c} mean: ${got.mean[c]} vs ${v}`));
  variance.forEach((v, c) => assert.ok(Math.abs(got.variance[c]! - v) < 1e-3 * (1 + Math.abs(v)), `channel ${c} variance: ${got.variance[c]} vs ${v}`));
  assert.ok(pretrained.some((v, c) => Math.abs(v - mean[c]!) > 1e-2), 'and they differ from the pretrained statistics');
  full.dispose();
  net.dispose();
  // The bundle reproduces the run's target accuracy.
  const clf = await Classifier.load(r.bundle);
  const p = await clf.probabilities(ds.samples);
  await clf.dispose();
  let ok = 0;
  p.samples.forEach((s, i) => {
    const row = Array.from(p.probs.subarray(i * 4, (i + 1) * 4));
    if (row.indexOf(Math.max(...row)) === s.label) ok++;
  });
  assert.ok(Math.abs(ok / p.samples.length - r.targetAccuracy!) < 1e-9, `${ok / p.samples.length} vs ${r.targetAccuracy}`);
  await assert.rejects(adapt({ source: src, target: tgt, out: path.join(tmp, 'adabn-bad'), method: 'adabn', adabnImages: 1 }), /--adabn-images must be an integer ≥ 2/);
});
