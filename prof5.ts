import { openBackbone } from './src/models/backbone.js';
import { loadDataset, decodeToTensorData } from './src/data/index.js';
process.env.GRAFT_HOME = '/tmp/gh2';
const ds = await loadDataset('/tmp/gh2/demo/mnist-png-200');
const pre = { size: [224, 224] as [number, number], resize: 'squash' as const, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
let t = performance.now();
for (const s of ds.samples.slice(0, 64)) await decodeToTensorData(s, pre);
console.log('decode serial ms/img', ((performance.now() - t) / 64).toFixed(2));
t = performance.now();
await Promise.all(ds.samples.slice(64, 192).map((s) => decodeToTensorData(s, pre)));
console.log('decode parallel ms/img', ((performance.now() - t) / 128).toFixed(2));
const batch = new Float32Array(16 * 224 * 224 * 3).map(() => Math.random());
for (const th of [1, 2]) {
  const b2 = await openBackbone('mobilenet_v2', { threads: th });
  await b2.extract(batch, 16);
  t = performance.now();
  for (let i = 0; i < 10; i++) await b2.extract(batch, 16);
  console.log(th, 'threads ort img/s', (160 / ((performance.now() - t) / 1000)).toFixed(1));
  await b2.dispose();
}
