/**
 * The exports in a real browser (Debian's chromium via playwright-core), each with its real client
 * library served locally from its npm package: the `--onnx --web` example page runs the model in
 * onnxruntime-web (wasm), the `--tfjs` export loads in the TF.js browser bundle and the
 * `--teachable-machine` export in @teachablemachine/image's. All predict the same real digit images
 * and are compared with graft predict. No request leaves 127.0.0.1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { writeMnistImageFolder, loadDataset, decodeToRgb } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { trainClassifier } from '../src/recipes/train.js';
import { exportOnnx } from '../src/recipes/export.js';
import { exportTfjs } from '../src/recipes/export-tfjs.js';
import { exportTeachableMachine } from '../src/recipes/export-teachable.js';
import { Classifier } from '../src/recipes/predict.js';
import { packageRoot } from '../src/export/onnx-web.js';
import { CHROMIUM, assertExtras, skipUnless } from './extras.js';
import { serveDirs, type Served } from './clients/serve.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-export-web-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const classes = ['0', '1', '7'];
const split = { classes, valPercent: 20, testPercent: 20 };
const pkgDist = (name: string) => path.join(packageRoot(name, 'the browser test'), 'dist');
const needsChromium = skipUnless('chromium');
let server: Served | undefined;
let browser: Browser | undefined;

before(async () => {
  await writeMnistImageFolder(data, 12);
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page that records console errors, page errors and any request not to our server. */
async function open(url: string): Promise<{ page: Page; problems: string[] }> {
  assertExtras('chromium');
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 720, height: 420 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname !== '127.0.0.1' && u.protocol !== 'blob:' && u.protocol !== 'data:') {
      problems.push(`outside request: ${u.href}`);
      return route.abort();
    }
    return route.continue();
  });
  await page.goto(url);
  return { page, problems };
}

function maxDiff(a: number[][], ref: Record<string, number>[]): number {
  let d = 0;
  ref.forEach((p, i) => classes.forEach((l, j) => (d = Math.max(d, Math.abs(p[l]! - a[i]![j]!)))));
  return d;
}

test('in Chromium: the --web page (onnxruntime-web wasm), the --tfjs export (TF.js browser bundle) and the --teachable-machine export (@teachablemachine/image) match graft predict ≤1e-4', { skip: needsChromium, timeout: 300_000 }, async (t) => {
  const lin = await trainClassifier({ data, ...split, out: path.join(tmp, 'lin') });
  const onnx = await exportOnnx(lin.bundle, path.join(tmp, 'out', 'model.onnx'), { web: path.join(tmp, 'out', 'model-web') });
  assert.ok(onnx.web && onnx.web.files.includes('ort/ort-wasm-simd-threaded.wasm'));
  const tfjs = await exportTfjs(lin.bundle, path.join(tmp, 'out', 'tfjs'));
  const tm = await exportTeachableMachine(lin.bundle, path.join(tmp, 'out', 'tm'));
  assert.deepEqual(tm.files.map((f) => f.name).sort(), ['labels.json', 'metadata.json', 'model.json', 'weights.bin']);
  server = await serveDirs({
    '/': path.join(tmp, 'out'),
    '/lib/tfjs/': pkgDist('@tensorflow/tfjs'),
    '/lib/tfjs-wasm/': pkgDist('@tensorflow/tfjs-backend-wasm'),
    '/lib/tm/': pkgDist('@teachablemachine/image'),
    '/clients/': path.join(import.meta.dirname, 'clients'),
  });

  const t0 = performance.now();
  const lap = (what: string) => t.diagnostic(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const ds = await loadDataset(data, split);
  const samples: Sample[] = ds.samples.filter((_, i) => i % 4 === 1).slice(0, 8);
  const clf = await Classifier.load(lin.bundle);
  const { predictions } = await clf.predictFiles(samples.map((s) => path.join(data, s.id)));
  const pixels = Buffer.concat(await Promise.all(samples.map((s) => decodeToRgb(s, clf.meta.preprocess)))).toString('base64');
  await clf.dispose();
  const ref = predictions.map((p) => p.probabilities);

  lap('bundle, exports, graft predict');
  // 1. The example page, as a user opens it.
  const web = await open(`${server.url}/model-web/index.html`);
  await web.page.waitForFunction(() => (window as unknown as { graft?: { ready: boolean } }).graft?.ready === true, null, { timeout: 120_000 });
  const onnxProbs = await web.page.evaluate(
    async ([b64, n]) => {
      const bytes = Uint8Array.from(atob(b64 as string), (c) => c.charCodeAt(0));
      return (window as unknown as { graft: { predictPixels(p: Uint8Array, n: number): Promise<number[][]> } }).graft.predictPixels(bytes, n as number);
    },
    [pixels, samples.length] as const,
  );
  const dOnnx = maxDiff(onnxProbs, ref);
  // The page's own path: pick a file, the canvas resizes it, the table lists the classes.
  await web.page.setInputFiles('#file', path.join(data, samples[0]!.id));
  await web.page.waitForFunction(() => document.querySelectorAll('#result tr').length === 3);
  const shown = await web.page.$$eval('#result td.label', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual([...shown].sort(), classes);
  await web.page.screenshot({ path: path.join(tmp, 'web-page.png') });
  if (process.env.GRAFT_SCREENSHOT) fs.copyFileSync(path.join(tmp, 'web-page.png'), process.env.GRAFT_SCREENSHOT);
  assert.deepEqual(web.problems, []);
  t.diagnostic(`onnxruntime-web (wasm) vs graft predict: ${dOnnx.toExponential(2)} over ${samples.length} images, ${(onnx.bytes / 1e6).toFixed(2)} MB`);
  assert.ok(dOnnx <= 1e-4, `onnxruntime-web vs graft predict differ by ${dOnnx}`);

  lap('onnxruntime-web page');
  // 2. The TF.js export in the TF.js browser bundle (wasm backend; webgl measured when available).
  const tf = await open(`${server.url}/clients/tfjs.html`);
  type Client = { client: { load(u: string, b: string): Promise<{ backend: string; version: string; metadata: { labels: string[] } }>; predict(b64: string, n: number): Promise<number[][]> } };
  const info = await tf.page.evaluate(([u]) => (window as unknown as Client).client.load(u!, 'wasm'), [`${server.url}/tfjs/model.json`]);
  assert.equal(info.backend, 'wasm');
  assert.deepEqual(info.metadata.labels, classes);
  const tfProbs = await tf.page.evaluate(([b64, n]) => (window as unknown as Client).client.predict(b64 as string, n as number), [pixels, samples.length] as const);
  const dTf = maxDiff(tfProbs, ref);
  t.diagnostic(`TF.js ${info.version} browser bundle (wasm backend) vs graft predict: ${dTf.toExponential(2)}, ${(tfjs.bytes / 1e6).toFixed(2)} MB`);
  assert.ok(dTf <= 1e-4, `TF.js in Chromium vs graft predict differ by ${dTf}`);
  assert.deepEqual(tf.problems.filter((p) => !p.startsWith('console:')), []);

  lap('TF.js page');
  // 3. The Teachable Machine export in @teachablemachine/image's browser bundle: tmImage.load + model.predict(canvas).
  const tmPage = await open(`${server.url}/clients/tm.html`);
  type Tm = { client: { load(m: string, md: string, backend: string): Promise<{ labels: string[]; backend: string; tfjs: string; metadata: { imageSize: number } }>; predict(b64: string, n: number): Promise<number[][]> } };
  const tmInfo = await tmPage.page.evaluate(([m, md]) => (window as unknown as Tm).client.load(m!, md!, 'wasm'), [`${server.url}/tm/model.json`, `${server.url}/tm/metadata.json`]);
  assert.deepEqual(tmInfo.labels, classes);
  assert.equal(tmInfo.metadata.imageSize, 224);
  const tmProbs = await tmPage.page.evaluate(([b64, n]) => (window as unknown as Tm).client.predict(b64 as string, n as number), [pixels, samples.length] as const);
  const dTm = maxDiff(tmProbs, ref);
  t.diagnostic(`@teachablemachine/image 0.8.5 (TF.js ${tmInfo.tfjs}, ${tmInfo.backend} backend) vs graft predict: ${dTm.toExponential(2)}, ${(tm.bytes / 1e6).toFixed(2)} MB`);
  assert.ok(dTm <= 1e-4, `Teachable Machine's library vs graft predict differ by ${dTm}`);
  assert.deepEqual(tmPage.problems.filter((p) => !p.startsWith('console:')), []);
  lap('Teachable Machine page');
});
