/** Bundled backbones: ONNX conversion cached under GRAFT_HOME by weights hash, verified, rebuilt if damaged. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { frozenOnnx, onnxCachePath, openBackbone } from '../src/models/backbone.js';
import { getBackbone, listBackbones } from '../src/models/registry.js';
import { zooTable } from '../src/recipes/zoo.js';

process.env.GRAFT_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bb-'));

test('registry: bare arch names resolve to their default tag; unknown names list the known ones', () => {
  assert.equal(getBackbone('mobilenet_v2').name, 'mobilenet_v2.nsfwjs');
  assert.equal(getBackbone('inception_v3.nsfwjs').featureDim, 2048);
  assert.throws(() => getBackbone('resnet999'), /unknown backbone "resnet999"; known: .*mobilenet_v2\.nsfwjs/);
  const names = listBackbones().map((s) => s.name);
  assert.deepEqual(names.filter((n) => n.endsWith('.nsfwjs')), ['mobilenet_v2.nsfwjs', 'inception_v3.nsfwjs']);
  // torchvision architectures (src/models/tv/, parity-tested in zoo-parity.test.ts); the bundled
  // nsfwjs networks stay the default tag of their arch names.
  for (const arch of ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'vgg16', 'vgg16_bn', 'efficientnet_b0', 'mobilenet_v3_small', 'mobilenet_v3_large', 'inception_v3']) {
    assert.ok(names.includes(`${arch}.tv_in1k`), arch);
  }
  assert.equal(getBackbone('resnet50').name, 'resnet50.tv_in1k');
  assert.equal(getBackbone('inception_v3').name, 'inception_v3.nsfwjs');
});

test('the converted graph is cached by weights hash, reused, and rebuilt when damaged', async () => {
  const spec = getBackbone('mobilenet_v2');
  const first = await frozenOnnx(spec, spec.featureLayer);
  assert.equal(first.converted, true);
  const file = onnxCachePath(spec, spec.featureLayer, first.weightsHash);
  assert.ok(file.includes(first.weightsHash.slice(0, 16)) && fs.existsSync(file));
  const again = await frozenOnnx(spec, spec.featureLayer);
  assert.equal(again.converted, false, 'second open reuses the cache');
  const bytes = fs.readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.writeFileSync(file, bytes);
  const repaired = await frozenOnnx(spec, spec.featureLayer);
  assert.equal(repaired.converted, true, 'a damaged cache file is not trusted');
  assert.deepEqual(Buffer.from(repaired.bytes), Buffer.from(first.bytes));
});

test('cut points: a named block works, an unknown one is a clear error', async () => {
  const bb = await openBackbone('mobilenet_v2', { layer: 'block_16_project_BN', threads: 1 });
  assert.equal(bb.dim, 7 * 7 * 320);
  const out = await bb.extract(new Float32Array(224 * 224 * 3).fill(0.5), 1);
  assert.equal(out.length, 7 * 7 * 320);
  await bb.dispose();
  await assert.rejects(openBackbone('mobilenet_v2', { layer: 'nope' }), /"nope" is not a cut point of mobilenet_v2\.nsfwjs/);
});

test('zoo lists every model with size, dim, params, weights status and provenance', async () => {
  const rows = await zooTable();
  const mb = rows.find((r) => r.name === 'mobilenet_v2.nsfwjs')!;
  assert.deepEqual(mb.input, [224, 224]);
  assert.equal(mb.featureDim, 1280);
  assert.equal(mb.weights, 'bundled');
  assert.ok(mb.params > 2e6 && mb.params < 3e6, `params ${mb.params}`);
  assert.match(mb.provenance, /ImageNet-initialised.*fine-tuned.*content/);
  assert.equal(mb.onnxCached, true);
  assert.equal(rows.find((r) => r.name === 'inception_v3.nsfwjs')!.onnxCached, false);
  // torchvision weights: downloadable until the published file sits in $GRAFT_HOME/weights.
  assert.equal(rows.find((r) => r.name === 'resnet18.tv_in1k')!.weights, 'downloadable');
  const file = getBackbone('resnet18.tv_in1k').publishedWeightsPath!();
  assert.match(file, /weights[\/\\]resnet18-[0-9a-f]{8}\.pth$/);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'placeholder');
  assert.equal((await zooTable()).find((r) => r.name === 'resnet18.tv_in1k')!.weights, 'cached');
});
