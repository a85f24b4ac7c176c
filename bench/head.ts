/**
 * Linear head on cached features: graft (full-batch L-BFGS, objective in onnxruntime) vs
 * scikit-learn LogisticRegression(lbfgs) on the very same standardised MobileNetV2 features of
 * MNIST digits, same L2 strength (λ = 1/(C·n)), same gradient tolerance (1e-4), same threads.
 *   npm run bench:head -- [--per-class 800] [--threads 1] [--C 1]
 * Last line: {"graft_s":…,"sklearn_s":…,"ratio": sklearn_s / graft_s,"graft_acc":…,"sklearn_acc":…}
 */
import fs from 'node:fs';
import path from 'node:path';
import { initTf } from '../src/engine/tfjs.js';
import { loadDataset } from '../src/data/index.js';
import { openBackbone } from '../src/models/backbone.js';
import { extractFeatures, openStoreFor } from '../src/features/extract.js';
import { splitRows } from '../src/recipes/features.js';
import { buildHead, columnStats, standardize } from '../src/train/heads.js';
import { Trainer } from '../src/train/trainer.js';
import { encodeNpy } from '../src/util/npy.js';
import { args, benchCache, digitFolder, fmt, runPeer } from './common.js';

const a = args({ 'per-class': { type: 'string', default: '800' }, threads: { type: 'string', default: '1' }, C: { type: 'string', default: '1' }, repeat: { type: 'string', default: '3' } });
const threads = Number(a.threads);
const C = Number(a.C);
await initTf();
process.env.GRAFT_HOME ??= path.join(benchCache(), 'home');
const ds = await loadDataset(await digitFolder(Number(a['per-class'])), { valPercent: 20, testPercent: 0 });
const bb = await openBackbone('mobilenet_v2');
const store = openStoreFor(bb);
const feats = await extractFeatures(ds.samples, bb, { store });
store.close();
await bb.dispose();
const sp = splitRows(feats);
const { mean, std } = columnStats(sp.train.x, sp.train.n, sp.train.dim);
const train = { ...sp.train, x: standardize(sp.train.x, sp.train.n, sp.train.dim, mean, std) };
const val = { ...sp.val, x: standardize(sp.val.x, sp.val.n, sp.val.dim, mean, std) };

// Raw (unstandardised) features for the peer: it fits its own StandardScaler outside the timed fit.
const dir = benchCache();
const files = {
  xtr: path.join(dir, 'head-xtr.npy'),
  ytr: path.join(dir, 'head-ytr.npy'),
  xva: path.join(dir, 'head-xva.npy'),
  yva: path.join(dir, 'head-yva.npy'),
};
fs.writeFileSync(files.xtr, encodeNpy(sp.train.x, [sp.train.n, sp.train.dim]));
fs.writeFileSync(files.ytr, encodeNpy(sp.train.y, [sp.train.n]));
fs.writeFileSync(files.xva, encodeNpy(sp.val.x, [sp.val.n, sp.val.dim]));
fs.writeFileSync(files.yva, encodeNpy(sp.val.y, [sp.val.n]));

const lambda = 1 / (C * train.n);
let best = Infinity;
let acc = 0;
let iters = 0;
for (let r = 0; r < Number(a.repeat); r++) {
  const head = buildHead({ kind: 'linear', inputDim: train.dim, numClasses: ds.labels.length });
  const t = new Trainer(head, { optimizer: 'lbfgs', epochs: 1000, weightDecay: lambda, tol: 1e-4, threads });
  const t0 = performance.now();
  const hist = await t.fit(train);
  best = Math.min(best, (performance.now() - t0) / 1000);
  acc = t.evaluate(val).accuracy;
  iters = hist.length;
  head.dispose();
}
const peerArgs = ['--train', files.xtr, files.ytr, '--val', files.xva, files.yva, '--threads', String(threads), '--C', String(C), '--repeat', String(a.repeat)];
// To convergence (sklearn's defaults: tol 1e-4), and the fastest sklearn fit reaching graft's val accuracy.
const conv = runPeer('sklearn_head.py', peerArgs, true);
const eq = runPeer('sklearn_head.py', [...peerArgs, '--target-acc', String(acc)], true);
const reached = Number(eq.sklearn_s) > 0;
const skS = reached ? Number(eq.sklearn_s) : Number(conv.sklearn_s);
const skAcc = reached ? Number(eq.sklearn_acc) : Number(conv.sklearn_acc);
console.log(`linear head on ${train.n}×${train.dim} MobileNetV2 features of MNIST digits (val ${val.n}), C=${C}, ${threads} thread(s), best of ${a.repeat}`);
console.log(`  graft   L-BFGS (ORT objective):           ${fmt(best, 3)} s, ${iters} iterations, val accuracy ${fmt(100 * acc, 2)}%`);
console.log(`  sklearn lbfgs to convergence:             ${fmt(Number(conv.sklearn_s), 3)} s, ${conv.iters} iterations, val accuracy ${fmt(100 * Number(conv.sklearn_acc), 2)}%`);
console.log(
  reached
    ? `  sklearn lbfgs, fastest fit reaching graft's accuracy: ${fmt(skS, 3)} s (max_iter ${eq.iters}), val accuracy ${fmt(100 * skAcc, 2)}%`
    : `  sklearn never reached graft's val accuracy; comparing with its converged fit`,
);
console.log(
  JSON.stringify({ graft_s: +best.toFixed(4), sklearn_s: +skS.toFixed(4), ratio: +(skS / best).toFixed(2), graft_acc: +acc.toFixed(4), sklearn_acc: +skAcc.toFixed(4), sklearn_converged_s: +Number(conv.sklearn_s).toFixed(4), sklearn_converged_acc: +Number(conv.sklearn_acc).toFixed(4) }),
);
