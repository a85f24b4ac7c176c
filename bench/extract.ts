/**
 * Feature-extraction throughput, graft (the converted network in onnxruntime) vs PyTorch 1.13 CPU
 * (Debian) on the same preprocessed batches of 16, same thread count, measured one after the other
 * in this run. PyTorch is raced at its best (channels_last, jemalloc preloaded) and its stock figure
 * (NCHW, glibc malloc) is printed beside it.
 *   npm run bench:extract -- [--threads 2] [--seconds 10] [--backbone mobilenet_v2]
 * Last line: {"graft_img_s":…,"pytorch_img_s":…,"ratio":…}
 */
import fs from 'node:fs';
import path from 'node:path';
import { openBackbone } from '../src/models/backbone.js';
import { loadDataset, decodeToTensorData } from '../src/data/index.js';
import { encodeNpy } from '../src/util/npy.js';
import { args, benchCache, digitFolder, fmt, runPeer } from './common.js';

const a = args({ threads: { type: 'string', default: '2' }, seconds: { type: 'string', default: '10' }, backbone: { type: 'string', default: 'mobilenet_v2' }, batch: { type: 'string', default: '16' } });
const threads = Number(a.threads);
const seconds = Number(a.seconds);
const batch = Number(a.batch);
const TORCH_ARCH: Record<string, string> = { mobilenet_v2: 'mobilenet_v2', inception_v3: 'inception_v3' };
const bbName = String(a.backbone);
const arch = TORCH_ARCH[bbName.split('.')[0]];
if (!arch) throw new Error(`no PyTorch peer for ${bbName}`);

// The same real, preprocessed batch for both: 16 MNIST digits through graft's preprocessing.
const bb = await openBackbone(bbName, { threads });
const [h, w] = bb.spec.preprocess.size;
const ds = await loadDataset(await digitFolder(20), { valPercent: 0, testPercent: 0 });
const input = new Float32Array(batch * h * w * 3);
for (let i = 0; i < batch; i++) input.set(await decodeToTensorData(ds.samples[i * 7], bb.spec.preprocess), i * h * w * 3);
const npy = path.join(benchCache(), `batch-${bbName}-${batch}.npy`);
fs.writeFileSync(npy, encodeNpy(input, [batch, h, w, 3]));

async function timeGraft(): Promise<number> {
  for (let i = 0; i < 3; i++) await bb.extract(input, batch);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await bb.extract(input, batch);
    n += batch;
  }
  return n / ((performance.now() - t0) / 1000);
}

const graft = await timeGraft();
await bb.dispose();
const peerArgs = ['--arch', arch, '--threads', String(threads), '--batch', String(batch), '--seconds', String(seconds), '--input', npy];
const tuned = runPeer('torch_extract.py', [...peerArgs, '--layout', 'channels_last'], true);
const stock = runPeer('torch_extract.py', [...peerArgs, '--layout', 'nchw'], false);
const pt = Number(tuned.img_s);
console.log(`${bbName} feature extraction, batch ${batch}, ${threads} thread(s), ${seconds} s each`);
console.log(`  graft (onnxruntime, converted graph)      ${fmt(graft)} img/s`);
console.log(`  PyTorch ${tuned.torch} tuned (channels_last, jemalloc) ${fmt(pt)} img/s`);
console.log(`  PyTorch ${stock.torch} stock (NCHW, glibc malloc)      ${fmt(Number(stock.img_s))} img/s`);
console.log(JSON.stringify({ graft_img_s: +fmt(graft), pytorch_img_s: +fmt(pt), pytorch_stock_img_s: +fmt(Number(stock.img_s)), ratio: +(graft / pt).toFixed(2) }));
