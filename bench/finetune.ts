/**
 * Fine-tuning throughput: MobileNetV2's last blocks + Conv_1 + a new head trained on cached cut
 * activations (or the whole network on images), graft (tfjs-wasm with graft's kernels, one
 * thread) vs PyTorch 1.13 (Debian, tuned and stock) training the same part of the network at the
 * same batch size and thread count, one after the other in this run (the tuned peer before and
 * after graft, averaged). BatchNorm frozen (inference mode) on both sides.
 *   npm run bench:finetune -- [--blocks 1|4|all] [--batch 16] [--seconds 10] [--profile]
 * --blocks 1: block 16 + Conv_1 on [7,7,160] activations (graft `finetune --unfreeze 2`);
 * --blocks 4: blocks 13–16 + Conv_1 on [14,14,96] (`--unfreeze 5`); --blocks all: the whole
 * network on [224,224,3] images. --profile: per-kernel times of a few steps instead (no peer;
 * --steps N of them); add --by-shape to split them by input shapes.
 * Last line: {"graft_img_s":…,"pytorch_img_s":…,"ratio":…}
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { nativeGemm } from '../src/engine/kernels/index.js';
import { getBackbone } from '../src/models/registry.js';
import { buildTail } from '../src/models/tail.js';
import { resolveCut } from '../src/recipes/finetune.js';
import { Trainer, type Examples } from '../src/train/trainer.js';
import { rng } from '../src/util/rng.js';
import '../src/models/backbone.js';
import { args, fmt, runPeer } from './common.js';
import { timeKernels } from './kernel-times.js';

const a = args({
  batch: { type: 'string', default: '16' },
  seconds: { type: 'string', default: '10' },
  blocks: { type: 'string', default: '1' },
  profile: { type: 'boolean', default: false },
  'by-shape': { type: 'boolean', default: false },
  steps: { type: 'string', default: '' },
});
const batch = Number(a.batch);
const seconds = Number(a.seconds);
const blocks = a.blocks;
if (!['1', '4', 'all'].includes(blocks)) throw new Error(`--blocks must be 1, 4 or all, got ${blocks}`);
await initTf();
const spec = getBackbone('mobilenet_v2');
const { model: full } = await spec.load();
// Keras block k (1..16) is torchvision features[k + 1]; Conv_1 is features[18].
const cut = blocks === 'all' ? full.inputLayers[0].name : resolveCut(spec, { unfreeze: Number(blocks) + 1 }).cut;
const tail = buildTail(full, cut, spec.featureLayer);
const shape = tail.inputs[0].shape.slice(1) as number[];
const dim = shape.reduce((p, q) => p * q, 1);
const input = tfl.input({ shape: [dim] });
let x = tfl.layers.reshape({ targetShape: shape }).apply(input) as tfl.SymbolicTensor;
x = tail.apply(x) as tfl.SymbolicTensor;
x = tfl.layers.dropout({ rate: 0.2 }).apply(x) as tfl.SymbolicTensor;
const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 10, name: 'logits' }).apply(x) as tfl.SymbolicTensor });

// Synthetic activations (post-ReLU-like, non-negative) and labels; fewer steps per epoch for the
// bigger networks (an epoch is the timing unit, the first one warms up).
const steps = blocks === '1' ? 20 : blocks === '4' ? 8 : 2;
function examples(n: number): Examples {
  const r = rng(1);
  return { x: Float32Array.from({ length: n * dim }, () => Math.max(0, r() * 2 - 0.5)), y: Int32Array.from({ length: n }, (_, i) => i % 10), n, dim };
}
const trainer = (epochs: number, onEpoch?: (s: number, t: Trainer) => void) =>
  new Trainer(model, {
    optimizer: 'adamw',
    weightDecay: 1e-2,
    batchSize: batch,
    epochs,
    schedule: 'constant',
    callbacks: [{ onEpochEnd: (l, ctx) => onEpoch?.(l.seconds, ctx.trainer) }],
  });

if (a.profile) {
  await trainer(1).fit(examples(batch * 2)); // warm up
  const nSteps = a.steps ? Number(a.steps) : blocks === 'all' ? 2 : 5;
  const data = examples(batch * nSteps);
  const times = timeKernels(a['by-shape']);
  const t0 = performance.now();
  await trainer(1).fit(data);
  const wall = performance.now() - t0;
  const total = [...times.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`per step (${nSteps} steps of ${batch}, blocks ${blocks}): ${fmt(wall / nSteps)} ms wall, ${fmt(total / nSteps)} ms in kernels (exclusive times)`);
  for (const [name, e] of [...times].sort((p, q) => q[1].ms - p[1].ms).slice(0, a['by-shape'] ? 40 : 25)) {
    console.log(`  ${name.padEnd(a['by-shape'] ? 64 : 40)} ${fmt(e.ms / nSteps).padStart(7)} ms ${String(e.calls / nSteps).padStart(6)} calls`);
  }
  process.exit(0);
}

/**
 * Wrap every wasm kernel with a wall-clock timer (exclusive of the kernels it calls itself).
 * tf.profile is not used: on wasm it reads every output back (dataSync), which inflates big ones.
 */
const peerArgs = ['--blocks', blocks, '--threads', '1', '--batch', String(batch), '--seconds', String(seconds)];
const tunedPeer = () => runPeer('torch_finetune.py', [...peerArgs, '--layout', 'channels_last'], true);
// The tuned peer runs before and after graft and the two are averaged, so load that changes
// during the run (a shared machine) weighs on both sides alike.
const before = tunedPeer();
const epochsSeconds: number[] = [];
const budget = performance.now();
await trainer(1000, (s, t) => {
  epochsSeconds.push(s);
  if ((performance.now() - budget) / 1000 > seconds + epochsSeconds[0]) t.stopTraining = true;
}).fit(examples(batch * steps));
const timed = epochsSeconds.slice(1);
const graft = (timed.length * batch * steps) / timed.reduce((p, q) => p + q, 0);
const after = tunedPeer();
const stock = runPeer('torch_finetune.py', [...peerArgs, '--layout', 'nchw'], false);
const pt = (Number(before.img_s) + Number(after.img_s)) / 2;
const gemmNote = nativeGemm() ? 'products in ORT/MLAS' : 'products in XNNPACK';
console.log(`MobileNetV2 from ${cut} [${shape}] (blocks ${blocks}) + new head, training, batch ${batch}, 1 thread`);
console.log(`  graft (tfjs-wasm + graft kernels, ${gemmNote}) ${fmt(graft)} img/s (${model.trainableWeights.length} trainable tensors, ${timed.length} timed epochs of ${steps} steps)`);
console.log(`  PyTorch ${before.torch} tuned (channels_last, jemalloc) ${fmt(pt)} img/s (before ${fmt(Number(before.img_s))}, after ${fmt(Number(after.img_s))}; ${before.trainable} trainable params)`);
console.log(`  PyTorch ${stock.torch} stock (NCHW)                 ${fmt(Number(stock.img_s))} img/s`);
console.log(JSON.stringify({ blocks, graft_img_s: +fmt(graft), pytorch_img_s: +fmt(pt), pytorch_stock_img_s: +fmt(Number(stock.img_s)), ratio: +(graft / pt).toFixed(2) }));
