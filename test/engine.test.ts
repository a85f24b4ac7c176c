/**
 * The extraction engine: ORT in a worker thread and the uint8 pixel input (normalisation folded
 * into the graph) give bit-for-bit the features of the in-process float32 path on real images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openBackbone, frozenOnnx } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { OrtSession } from '../src/engine/ort.js';
import { OrtWorkerSession } from '../src/engine/ort-worker.js';
import { withPixelInput } from '../src/convert/pixel-input.js';
import { decodeToRgb, normalizeRgb, loadDataset, writeMnistImageFolder } from '../src/data/index.js';
import { extractFeatures } from '../src/features/extract.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-engine-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

test('uint8 pixels through the folded graph in a worker = float32 normalised in JS, in process (bit-identical)', async () => {
  const dir = path.join(tmp, 'digits');
  await writeMnistImageFolder(dir, 2);
  const ds = await loadDataset(dir, { valPercent: 0, testPercent: 0 });
  // A preprocessing with non-trivial mean/std, so the folded arithmetic is really exercised.
  const spec = getBackbone('mobilenet_v2');
  const pre = { ...spec.preprocess, mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };
  const n = 6;
  const per = 224 * 224 * 3;
  const rgb = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) rgb.set(await decodeToRgb(ds.samples[i], pre), i * per);
  const { bytes } = await frozenOnnx(spec, spec.featureLayer);
  const ref = await OrtSession.create(bytes, { threads: 1 });
  const px = await OrtWorkerSession.create(withPixelInput(bytes, pre), { threads: 1 });
  try {
    const a = await ref.run(normalizeRgb(rgb, pre), [n, 224, 224, 3]);
    const b = await px.run(rgb, [n, 224, 224, 3]);
    assert.deepEqual(b.dims, [n, 1280]);
    assert.deepEqual(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength));
    // Runs queued at once come back in order, each with its own answer.
    const [x, y] = await Promise.all([px.run(rgb.subarray(0, per), [1, 224, 224, 3]), px.run(rgb.subarray(per, 2 * per), [1, 224, 224, 3])]);
    assert.deepEqual([...x.data], [...a.data.subarray(0, 1280)]);
    assert.deepEqual([...y.data], [...a.data.subarray(1280, 2560)]);
    await assert.rejects(px.run(new Uint8Array(5), [1, 224, 224, 3]), /5 values for shape/);
  } finally {
    await ref.release();
    await px.release();
  }
  await assert.rejects(px.run(rgb, [n, 224, 224, 3]), /released/);
});

test('extractFeatures through the worker equals the in-process engine exactly', async () => {
  const dir = path.join(tmp, 'digits');
  const ds = await loadDataset(dir, { valPercent: 0, testPercent: 0 });
  const samples = ds.samples.slice(0, 20);
  const bb = await openBackbone('mobilenet_v2', { threads: 1 });
  const viaWorker = await extractFeatures(samples, bb, { store: null, batchSize: 8 });
  await bb.dispose();
  process.env.GRAFT_ORT_WORKER = '0';
  try {
    const bb2 = await openBackbone('mobilenet_v2', { threads: 1 });
    // The float path: decode + normalise in JS, then the plain graph.
    const floats = new Float32Array(samples.length * 224 * 224 * 3);
    for (let i = 0; i < samples.length; i++) floats.set(normalizeRgb(await decodeToRgb(samples[i], bb2.spec.preprocess), bb2.spec.preprocess), i * 224 * 224 * 3);
    const direct = await bb2.extract(floats, samples.length);
    await bb2.dispose();
    assert.equal(viaWorker.n, 20);
    assert.deepEqual([...viaWorker.data], [...direct]);
  } finally {
    delete process.env.GRAFT_ORT_WORKER;
  }
});

test('an idle worker session does not keep the process alive (a script that never disposes still exits)', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = path.join(tmp, 'no-dispose.mts');
  const backbone = path.resolve(import.meta.dirname, '../src/models/backbone.ts');
  fs.writeFileSync(script, `import { openBackbone } from ${JSON.stringify(backbone)};\nconst bb = await openBackbone('mobilenet_v2', { threads: 1 });\nconst f = await bb.extract(new Uint8Array(224 * 224 * 3), 1);\nconsole.log(f.length);\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve(import.meta.dirname, '..'), encoding: 'utf8', timeout: 60_000, env: process.env });
  assert.equal(r.signal, null, 'killed by the timeout: the worker kept the process alive');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1280');
});
