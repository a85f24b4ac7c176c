/**
 * Feature-extraction throughput, graft (the converted network in onnxruntime) vs PyTorch 1.13 CPU
 * (Debian) on the same preprocessed batches of 16, same thread count, measured one after the other
 * in this run. PyTorch is raced at its best (jemalloc preloaded, the faster of channels_last and NCHW) and its stock figure
 * (NCHW, glibc malloc) is printed beside it.
 *   npm run bench:extract -- [--threads 2] [--seconds 10] [--backbone mobilenet_v2]
 * Last line: {"graft_img_s":…,"pytorch_img_s":…,"ratio":…}
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { openBackbone } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { loadDataset, decodeToTensorData } from '../src/data/index.js';
import { encodeNpy } from '../src/util/npy.js';
import { args, benchCache, digitFolder, fmt, runPeer } from './common.js';

const a = args({ threads: { type: 'string', default: '2' }, seconds: { type: 'string', default: '10' }, backbone: { type: 'string', default: 'mobilenet_v2' }, batch: { type: 'string', default: '16' } });
const threads = Number(a.threads);
const seconds = Number(a.seconds);
const batch = Number(a.batch);
const TORCH_ARCH = ['mobilenet_v2', 'inception_v3', 'resnet18', 'resnet50'];
const bbName = String(a.backbone);
const arch = bbName.split('.')[0];
if (!TORCH_ARCH.includes(arch)) throw new Error(`no PyTorch peer for ${bbName} (peers: ${TORCH_ARCH.join(', ')})`);

// torchvision backbones need weights: random ones saved by the peer's torch (speed does not depend on them).
let weights: string | undefined;
if (getBackbone(bbName).tag === 'tv_in1k') {
  weights = path.join(benchCache(), `${arch}-random.pth`);
  if (!fs.existsSync(weights)) {
    const r = spawnSync('/usr/bin/python3', ['-c', `import torch, torchvision, sys; torch.manual_seed(0); torch.save(torchvision.models.${arch}().state_dict(), sys.argv[1])`, weights], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`could not make random ${arch} weights with Debian's torch: ${r.stderr}`);
  }
}

// The same real, preprocessed batch for both: 16 MNIST digits through graft's preprocessing.
const bb = await openBackbone(bbName, { threads, weights });
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
// PyTorch at its best: jemalloc, and whichever layout is faster for this network (DESIGN §2).
const tunedCl = runPeer('torch_extract.py', [...peerArgs, '--layout', 'channels_last'], true);
const tunedNchw = runPeer('torch_extract.py', [...peerArgs, '--layout', 'nchw'], true);
const tuned = Number(tunedCl.img_s) >= Number(tunedNchw.img_s) ? tunedCl : tunedNchw;
const stock = runPeer('torch_extract.py', [...peerArgs, '--layout', 'nchw'], false);
const pt = Number(tuned.img_s);
console.log(`${bbName} feature extraction, batch ${batch}, ${threads} thread(s), ${seconds} s each`);
console.log(`  graft (onnxruntime, converted graph)      ${fmt(graft)} img/s`);
console.log(`  PyTorch ${tuned.torch} tuned (jemalloc; channels_last ${fmt(Number(tunedCl.img_s))}, NCHW ${fmt(Number(tunedNchw.img_s))}) ${fmt(pt)} img/s`);
console.log(`  PyTorch ${stock.torch} stock (NCHW, glibc malloc)      ${fmt(Number(stock.img_s))} img/s`);
console.log(JSON.stringify({ graft_img_s: +fmt(graft), pytorch_img_s: +fmt(pt), pytorch_stock_img_s: +fmt(Number(stock.img_s)), ratio: +(graft / pt).toFixed(2) }));
