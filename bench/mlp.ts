/**
 * MLP-head training on cached features, graft (the Trainer: tfjs-wasm + graft's kernels, one
 * thread) vs PyTorch 1.13 (tuned and stock) with the same architecture (dim → 512 ReLU → dropout
 * 0.5 → classes), AdamW (weight decay 0.05), batch size, threads, data and epochs, one after the
 * other in this run (the tuned peer before and after graft, averaged, so load that changes during
 * the run weighs on both sides alike). Throughput = training rows per second, first epoch
 * (warm-up) excluded. The 1-minute load average at the start and end is printed beside.
 *   npm run bench:mlp -- [--n 10000] [--dim 1280] [--batch 64] [--epochs 6]
 * Last line: {"graft_rows_s":…,"pytorch_rows_s":…,"ratio":…}
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initTf } from '../src/engine/tfjs.js';
import { buildHead } from '../src/train/heads.js';
import { Trainer } from '../src/train/trainer.js';
import { encodeNpy } from '../src/util/npy.js';
import { rng } from '../src/util/rng.js';
import { args, benchCache, fmt, runPeer } from './common.js';
import { timeKernels } from './kernel-times.js';

const a = args({ n: { type: 'string', default: '10000' }, dim: { type: 'string', default: '1280' }, batch: { type: 'string', default: '64' }, epochs: { type: 'string', default: '6' }, classes: { type: 'string', default: '10' }, profile: { type: 'boolean', default: false } });
const [n, dim, batch, epochs, k] = [a.n, a.dim, a.batch, a.epochs, a.classes].map(Number);
await initTf();
// Features with class structure (a class mean + noise, non-negative like pooled ReLU features).
const r = rng(7);
const means = Array.from({ length: k }, () => Float32Array.from({ length: dim }, () => r() * 2));
const x = new Float32Array(n * dim);
const y = new Int32Array(n);
for (let i = 0; i < n; i++) {
  y[i] = i % k;
  for (let j = 0; j < dim; j++) x[i * dim + j] = Math.max(0, means[y[i]][j] + (r() - 0.5) * 12);
}
const xf = path.join(benchCache(), `mlp-x-${n}x${dim}.npy`);
const yf = path.join(benchCache(), `mlp-y-${n}.npy`);
fs.writeFileSync(xf, encodeNpy(x, [n, dim]));
fs.writeFileSync(yf, encodeNpy(Float32Array.from(y), [n]));

if (a.profile) {
  const m = buildHead({ kind: 'mlp', inputDim: dim, numClasses: k, hidden: [512], dropout: 0.5 }, 0);
  const t = (e: number) => new Trainer(m, { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.05, batchSize: batch, epochs: e, schedule: 'constant' });
  const sub = { x: x.subarray(0, batch * 20 * dim), y: y.subarray(0, batch * 20), n: batch * 20, dim };
  await t(1).fit(sub);
  const times = timeKernels(true);
  const t0 = performance.now();
  await t(1).fit(sub);
  const wall = (performance.now() - t0) / 20;
  const total = [...times.values()].reduce((s2, e) => s2 + e.ms, 0) / 20;
  console.log(`per step: ${fmt(wall, 2)} ms wall, ${fmt(total, 2)} ms in kernels`);
  for (const [name, e] of [...times].sort((p2, q) => q[1].ms - p2[1].ms).slice(0, 20)) console.log(`  ${name.padEnd(32)} ${fmt(e.ms / 20, 3).padStart(8)} ms ${String(e.calls / 20).padStart(5)} calls`);
  process.exit(0);
}
const peerArgs = ['--x', xf, '--y', yf, '--threads', '1', '--batch', String(batch), '--epochs', String(epochs)];
const load0 = os.loadavg()[0];
const before = runPeer('torch_mlp.py', peerArgs, true);
const model = buildHead({ kind: 'mlp', inputDim: dim, numClasses: k, hidden: [512], dropout: 0.5 }, 0);
const secs: number[] = [];
const trainer = new Trainer(model, { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.05, batchSize: batch, epochs, schedule: 'constant', callbacks: [{ onEpochEnd: (l) => void secs.push(l.seconds) }] });
const hist = await trainer.fit({ x, y, n, dim });
const graftEpoch = secs.slice(1).reduce((s, t) => s + t, 0) / Math.max(1, secs.length - 1);
const after = runPeer('torch_mlp.py', peerArgs, true);
const stock = runPeer('torch_mlp.py', peerArgs, false);
const load1 = os.loadavg()[0];
const g = n / graftEpoch;
const [pb, pa] = [n / Number(before.epoch_s), n / Number(after.epoch_s)];
const p = (pb + pa) / 2;
const tuned = before;
console.log(`MLP head ${dim}→512→${k}, ${n} rows, batch ${batch}, AdamW, 1 thread, ${epochs} epochs (first one not timed)`);
console.log(`  graft (Trainer, tfjs-wasm)        ${fmt(g, 0)} rows/s   final train loss ${hist[hist.length - 1].loss.toFixed(3)}`);
console.log(`  PyTorch ${tuned.torch} tuned (jemalloc) ${fmt(p, 0)} rows/s (before ${fmt(pb, 0)}, after ${fmt(pa, 0)})   final train loss ${Number(tuned.loss).toFixed(3)}`);
console.log(`  load average (1 min) ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end`);
console.log(`  PyTorch ${stock.torch} stock           ${fmt(n / Number(stock.epoch_s), 0)} rows/s`);
console.log(JSON.stringify({ graft_rows_s: Math.round(g), pytorch_rows_s: Math.round(p), pytorch_stock_rows_s: Math.round(n / Number(stock.epoch_s)), ratio: +(g / p).toFixed(2), load: [+load0.toFixed(2), +load1.toFixed(2)] }));
