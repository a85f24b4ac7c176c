/**
 * npm run bench:exports — the README's export table, measured: for each backbone bundle and each
 * format, the max |client probability − graft predict| on 4 real digit images and the file size.
 * Clients: onnxruntime-node, plain TF.js in Node (wasm backend, separate process), and in Chromium
 * (when Debian's chromium is there) onnxruntime-web, the TF.js browser bundle and @teachablemachine/image.
 * ResNet-18 uses seeded random weights (no download here): the differences measure the export, not accuracy.
 * Figures were taken on a shared 2-core machine under load (other agents running).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { writeMnistImageFolder, loadDataset, decodeToRgb } from '../src/data/index.js';
import { trainClassifier } from '../src/recipes/train.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { exportOnnx } from '../src/recipes/export.js';
import { exportTfjs } from '../src/recipes/export-tfjs.js';
import { exportTeachableMachine } from '../src/recipes/export-teachable.js';
import { Classifier } from '../src/recipes/predict.js';
import { OrtSession } from '../src/engine/ort.js';
import { writeSafetensors } from '../src/import/index.js';
import { packageRoot } from '../src/export/onnx-web.js';
import { rng } from '../src/util/rng.js';
import { serveDirs } from '../test/clients/serve.js';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-exports-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'digits');
const classes = ['0', '1', '7'];
const split = { classes, valPercent: 20, testPercent: 20 };
const N = 4;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** torchvision resnet18 state dict with seeded random weights (He-scaled convs, BN near identity). */
function randomResnet18(file: string): void {
  const r = rng(7);
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  const rand = (shape: number[], scale: number, base = 0) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => base + (r() * 2 - 1) * scale) });
  const conv = (k: string, o: number, i: number, s: number) => (t[`${k}.weight`] = rand([o, i, s, s], Math.sqrt(6 / (i * s * s))));
  const bn = (k: string, c: number) => {
    t[`${k}.weight`] = rand([c], 0.1, 1);
    t[`${k}.bias`] = rand([c], 0.1);
    t[`${k}.running_mean`] = rand([c], 0.1);
    t[`${k}.running_var`] = rand([c], 0.2, 1);
  };
  conv('conv1', 64, 3, 7);
  bn('bn1', 64);
  let inC = 64;
  [64, 128, 256, 512].forEach((c, li) => {
    for (let b = 0; b < 2; b++) {
      const k = `layer${li + 1}.${b}`;
      conv(`${k}.conv1`, c, b === 0 ? inC : c, 3);
      bn(`${k}.bn1`, c);
      conv(`${k}.conv2`, c, c, 3);
      bn(`${k}.bn2`, c);
      if (b === 0 && li > 0) {
        conv(`${k}.downsample.0`, c, inC, 1);
        bn(`${k}.downsample.1`, c);
      }
    }
    inC = c;
  });
  t['fc.weight'] = rand([1000, 512], 0.04);
  t['fc.bias'] = rand([1000], 0.01);
  fs.writeFileSync(file, writeSafetensors(t));
}

const maxDiff = (a: ArrayLike<number>[], ref: Record<string, number>[]) => Math.max(...ref.flatMap((p, i) => classes.map((l, j) => Math.abs(p[l]! - a[i]![j]!))));
const dirBytes = (d: string, skip = /^$/) => fs.readdirSync(d).filter((f) => !skip.test(f)).reduce((n, f) => n + fs.statSync(path.join(d, f)).size, 0);

interface Row { backbone: string; format: string; client: string; maxDiff?: number; mb?: number; note?: string }
const rows: Row[] = [];

async function main(): Promise<void> {
  await writeMnistImageFolder(data, 12);
  const rn = path.join(tmp, 'resnet18.safetensors');
  randomResnet18(rn);
  const bundles: [string, () => Promise<string>][] = [
    ['MobileNetV2 (bundled), linear head', async () => (await trainClassifier({ data, ...split, out: path.join(tmp, 'mnv2') })).bundle],
    ['MobileNetV2, fine-tuned --unfreeze 1', async () => (await finetuneClassifier({ data, ...split, out: path.join(tmp, 'ft'), unfreeze: 1, epochs: 1, freezeEpochs: 1, batchSize: 16, seed: 1 })).bundle],
    ['InceptionV3 (bundled), linear head', async () => (await trainClassifier({ data, ...split, backbone: 'inception_v3.nsfwjs', out: path.join(tmp, 'inc') })).bundle],
    ['ResNet-18 (torchvision arch, random weights), linear head', async () => (await trainClassifier({ data, ...split, backbone: 'resnet18.tv_in1k', weights: rn, out: path.join(tmp, 'rn') })).bundle],
    ['MobileNetV2, prototype head', async () => (await trainClassifier({ data, ...split, head: 'prototype', out: path.join(tmp, 'proto') })).bundle],
  ];
  const useChromium = fs.existsSync(CHROMIUM) && !process.env.NO_CHROMIUM;
  let browser: Browser | undefined;
  const server = await serveDirs({
    '/': tmp,
    '/lib/tfjs/': path.join(packageRoot('@tensorflow/tfjs', 'bench'), 'dist'),
    '/lib/tfjs-wasm/': path.join(packageRoot('@tensorflow/tfjs-backend-wasm', 'bench'), 'dist'),
    '/lib/tm/': path.join(packageRoot('@teachablemachine/image', 'bench'), 'dist'),
    '/clients/': path.join(import.meta.dirname, '..', 'test', 'clients'),
  });
  if (useChromium) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = async (url: string) => {
    const p = await browser!.newPage();
    await p.goto(url);
    return p;
  };
  for (const [name, make] of bundles) {
    const t0 = performance.now();
    const bundle = await make();
    const id = path.basename(bundle);
    const clf = await Classifier.load(bundle);
    const ds = await loadDataset(data, split);
    const samples = ds.samples.filter((_, i) => i % 9 === 2).slice(0, N);
    const ref = (await clf.predictFiles(samples.map((s) => path.join(data, s.id)))).predictions.map((p) => p.probabilities);
    const pre = clf.meta.preprocess;
    const rgb = Buffer.concat(await Promise.all(samples.map((s) => decodeToRgb(s, pre))));
    const [h, w] = pre.size;
    await clf.dispose();
    const pxFile = path.join(tmp, `${id}.rgb`);
    fs.writeFileSync(pxFile, rgb);
    const b64 = rgb.toString('base64');
    const attempt = async (format: string, client: string, f: () => Promise<{ d: number; bytes: number }>) => {
      try {
        const { d, bytes } = await f();
        rows.push({ backbone: name, format, client, maxDiff: d, mb: bytes / 1e6 });
      } catch (e) {
        rows.push({ backbone: name, format, client, note: `refused: ${(e as Error).message.replace(/^[^:]*: /, '').split(';')[0]}` });
      }
      console.error(JSON.stringify(rows.at(-1)));
    };
    // ONNX
    const onnxFile = path.join(tmp, id, 'model.onnx');
    let onnxOk = false;
    await attempt('ONNX', 'onnxruntime-node 1.23.2', async () => {
      const r = await exportOnnx(bundle, path.join(tmp, `${id}-onnx`, 'model.onnx'), { web: path.join(tmp, `${id}-onnx`, 'web') });
      const x = new Float32Array(N * h * w * 3);
      for (let i = 0; i < N; i++) x.set(Array.from(rgb.subarray(i * h * w * 3, (i + 1) * h * w * 3), (v, c) => (v / 255 - pre.mean[c % 3]!) / pre.std[c % 3]!), i * h * w * 3);
      const s = await OrtSession.create(r.file);
      const { data: out } = await s.run(x, [N, h, w, 3]);
      await s.release();
      onnxOk = true;
      return { d: maxDiff(Array.from({ length: N }, (_, i) => out.subarray(i * 3, i * 3 + 3)), ref), bytes: r.bytes };
    });
    void onnxFile;
    if (browser && onnxOk) {
      await attempt('ONNX --web', 'onnxruntime-web 1.23.2 wasm (Chromium)', async () => {
        const p = await page(`${server.url}/${id}-onnx/web/index.html`);
        await p.waitForFunction(() => (window as unknown as { graft?: { ready: boolean } }).graft?.ready === true, null, { timeout: 300_000 });
        const out = await p.evaluate(([s, n]) => (window as unknown as { graft: { predictPixels(b: Uint8Array, n: number): Promise<number[][]> } }).graft.predictPixels(Uint8Array.from(atob(s as string), (c) => c.charCodeAt(0)), n as number), [b64, N] as const);
        await p.close();
        return { d: maxDiff(out, ref), bytes: fs.statSync(path.join(tmp, `${id}-onnx`, 'model.onnx')).size };
      });
    }
    // TF.js, plain and quantised
    for (const q of [undefined, 'float16', 'uint8'] as const) {
      const dir = path.join(tmp, `${id}-tfjs${q ? `-${q}` : ''}`);
      let ok = false;
      await attempt(q ? `TF.js --quantize ${q}` : 'TF.js', '@tensorflow/tfjs 4.22 + wasm (Node)', async () => {
        const r = await exportTfjs(bundle, dir, { quantize: q });
        const { stdout } = await run(process.execPath, [path.join(import.meta.dirname, '..', 'test', 'clients', 'tfjs-node.cjs'), `${server.url}/${path.basename(dir)}/model.json`, pxFile, String(N)], { maxBuffer: 1 << 26 });
        ok = true;
        return { d: maxDiff((JSON.parse(stdout) as { probabilities: number[][] }).probabilities, ref), bytes: r.bytes };
      });
      if (browser && ok && !q) {
        await attempt('TF.js', '@tensorflow/tfjs 4.22 browser bundle, wasm (Chromium)', async () => {
          const p = await page(`${server.url}/clients/tfjs.html`);
          type C = { client: { load(u: string, b: string): Promise<unknown>; predict(s: string, n: number): Promise<number[][]> } };
          await p.evaluate(([u]) => (window as unknown as C).client.load(u!, 'wasm'), [`${server.url}/${path.basename(dir)}/model.json`]);
          const out = await p.evaluate(([s, n]) => (window as unknown as C).client.predict(s as string, n as number), [b64, N] as const);
          await p.close();
          return { d: maxDiff(out, ref), bytes: dirBytes(dir, /\.json$/) + fs.statSync(path.join(dir, 'model.json')).size };
        });
      }
    }
    // Teachable Machine
    const tmDir = path.join(tmp, `${id}-tm`);
    if (browser) {
      await attempt('Teachable Machine', '@teachablemachine/image 0.8.5, TF.js wasm (Chromium)', async () => {
        const r = await exportTeachableMachine(bundle, tmDir);
        const p = await page(`${server.url}/clients/tm.html`);
        type T = { client: { load(m: string, md: string, b: string): Promise<unknown>; predict(s: string, n: number): Promise<number[][]> } };
        await p.evaluate(([m, md]) => (window as unknown as T).client.load(m!, md!, 'wasm'), [`${server.url}/${id}-tm/model.json`, `${server.url}/${id}-tm/metadata.json`]);
        const out = await p.evaluate(([s, n]) => (window as unknown as T).client.predict(s as string, n as number), [b64, N] as const);
        await p.close();
        return { d: maxDiff(out, ref), bytes: r.bytes };
      });
    }
    console.error(`# ${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  await browser?.close();
  await server.close();
  console.log('| backbone | format | client | max \\|Δp\\| vs graft predict | size |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.backbone} | ${r.format} | ${r.client} | ${r.note ?? r.maxDiff!.toExponential(1)} | ${r.mb !== undefined ? `${r.mb.toFixed(1)} MB` : '—'} |`);
  fs.mkdirSync('bench/out', { recursive: true });
  fs.writeFileSync('bench/out/exports.json', JSON.stringify(rows, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
