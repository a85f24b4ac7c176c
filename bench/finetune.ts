/**
 * Fine-tuning throughput: MobileNetV2's last block + Conv_1 + a new head trained on cached
 * [7,7,160] cut activations (graft `finetune --unfreeze 2`), graft (tfjs-wasm with graft's
 * gradient kernels, one thread) vs PyTorch 1.13 (Debian, tuned and stock) training the same tail
 * at the same batch size and thread count, one after the other in this run.
 *   npm run bench:finetune -- [--batch 16] [--seconds 10] [--unfreeze 2]
 * Last line: {"graft_img_s":…,"pytorch_img_s":…,"ratio":…}
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { initTf } from '../src/engine/tfjs.js';
import { getBackbone } from '../src/models/registry.js';
import { buildTail } from '../src/models/tail.js';
import { resolveCut } from '../src/recipes/finetune.js';
import { Trainer } from '../src/train/trainer.js';
import { rng } from '../src/util/rng.js';
import '../src/models/backbone.js';
import { args, fmt, runPeer } from './common.js';

const a = args({ batch: { type: 'string', default: '16' }, seconds: { type: 'string', default: '10' }, unfreeze: { type: 'string', default: '2' } });
const batch = Number(a.batch);
const seconds = Number(a.seconds);
await initTf();
const spec = getBackbone('mobilenet_v2');
const { cut } = resolveCut(spec, { unfreeze: Number(a.unfreeze) });
const { model: full } = await spec.load();
const tail = buildTail(full, cut, spec.featureLayer);
const shape = tail.inputs[0].shape.slice(1) as number[];
const dim = shape.reduce((p, q) => p * q, 1);
const input = tfl.input({ shape: [dim] });
let x = tfl.layers.reshape({ targetShape: shape }).apply(input) as tfl.SymbolicTensor;
x = tail.apply(x) as tfl.SymbolicTensor;
x = tfl.layers.dropout({ rate: 0.2 }).apply(x) as tfl.SymbolicTensor;
const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 10, name: 'logits' }).apply(x) as tfl.SymbolicTensor });

// Synthetic activations (post-ReLU-like, non-negative) and labels.
const n = batch * 20;
const r = rng(1);
const train = { x: Float32Array.from({ length: n * dim }, () => Math.max(0, r() * 2 - 0.5)), y: Int32Array.from({ length: n }, (_, i) => i % 10), n, dim };
const epochsSeconds: number[] = [];
const budget = performance.now();
const t = new Trainer(model, {
  optimizer: 'adamw',
  weightDecay: 1e-2,
  batchSize: batch,
  epochs: 1000,
  schedule: 'constant',
  callbacks: [
    {
      onEpochEnd: (l, ctx) => {
        epochsSeconds.push(l.seconds);
        if ((performance.now() - budget) / 1000 > seconds + epochsSeconds[0]) ctx.trainer.stopTraining = true;
      },
    },
  ],
});
await t.fit(train);
const timed = epochsSeconds.slice(1); // the first epoch warms up
const graft = (timed.length * n) / timed.reduce((p, q) => p + q, 0);
const peerArgs = ['--threads', '1', '--batch', String(batch), '--seconds', String(seconds)];
const tuned = runPeer('torch_finetune.py', [...peerArgs, '--layout', 'channels_last'], true);
const stock = runPeer('torch_finetune.py', [...peerArgs, '--layout', 'nchw'], false);
const pt = Number(tuned.img_s);
console.log(`MobileNetV2 tail from ${cut} [${shape}] + new head, training, batch ${batch}, 1 thread`);
console.log(`  graft (tfjs-wasm + graft kernels)           ${fmt(graft)} img/s (${model.trainableWeights.length} trainable tensors)`);
console.log(`  PyTorch ${tuned.torch} tuned (channels_last, jemalloc) ${fmt(pt)} img/s (${tuned.trainable} trainable params)`);
console.log(`  PyTorch ${stock.torch} stock (NCHW)                 ${fmt(Number(stock.img_s))} img/s`);
console.log(JSON.stringify({ graft_img_s: +fmt(graft), pytorch_img_s: +fmt(pt), pytorch_stock_img_s: +fmt(Number(stock.img_s)), ratio: +(graft / pt).toFixed(2) }));
