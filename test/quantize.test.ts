/** int8 QDQ quantisation: weight/activation parameters, and a calibrated MobileNetV2 that onnxruntime runs as integer convolutions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { calibrationGraph, quantizeQdq, quantizeWeights, RangeObserver, uint8Params } from '../src/convert/quantize.js';
import { decodeModel, tensorFloats } from '../src/convert/onnx-decode.js';
import { frozenOnnx } from '../src/models/backbone.js';
import { getBackbone } from '../src/models/registry.js';
import { decodeToTensorData, loadDataset, writeMnistImageFolder } from '../src/data/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-q8-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

test('weights: symmetric per channel within ±qmax; activations: uint8 range holding 0 exactly', () => {
  const w = Float32Array.from([0.6, -1, 0.25, 0, 0.004, -0.006]);
  const { q, scale } = quantizeWeights(w, 2, 63);
  assert.deepEqual([...q], [38, -63, 16, 0, 42, -63]);
  assert.ok(Math.abs(scale[0]! - 1 / 63) < 1e-9 && Math.abs(scale[1]! - 0.006 / 63) < 1e-9);
  const p = uint8Params([-2, 6]);
  assert.equal(p.zeroPoint, Math.round(2 / (8 / 255)));
  assert.equal(uint8Params([0.5, 6]).zeroPoint, 0, 'a positive range still starts at 0');
  const o = new RangeObserver();
  o.observe('t', Float32Array.from([1, -3, 2]));
  o.observe('t', Float32Array.from([5]));
  assert.deepEqual(o.ranges.t, [-3, 5]);
});

test('a calibrated MobileNetV2 becomes integer convolutions in onnxruntime, with features close to fp32', async () => {
  const spec = getBackbone('mobilenet_v2');
  const { bytes } = await frozenOnnx(spec, spec.featureLayer);
  const w = decodeModel(bytes).graph.initializer.find((t) => t.dims.length === 4)!;
  assert.equal(tensorFloats(w).length, w.dims.reduce((x, y) => x * y, 1));
  assert.ok(tensorFloats(w).every(Number.isFinite) && tensorFloats(w).some((v) => Math.abs(v) > 1e-3), 'real weights, not file bytes');
  const dir = path.join(tmp, 'digits');
  await writeMnistImageFolder(dir, 3);
  const ds = await loadDataset(dir, { valPercent: 0, testPercent: 0 });
  const per = 224 * 224 * 3;
  const x = new Float32Array(16 * per);
  for (let i = 0; i < 16; i++) x.set(await decodeToTensorData(ds.samples[i], spec.preprocess), i * per);
  const cal = calibrationGraph(bytes);
  const cs = await ort.InferenceSession.create(cal.bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  const obs = new RangeObserver();
  const out = await cs.run({ [cs.inputNames[0]!]: new ort.Tensor('float32', x, [16, 224, 224, 3]) });
  for (const t of cal.tensors) obs.observe(t, out[t]!.data as Float32Array);
  const q = quantizeQdq(bytes, obs.ranges);
  const optimized = path.join(tmp, 'q8-opt.onnx');
  const qs = await ort.InferenceSession.create(q, { intraOpNumThreads: 1, graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized });
  const ops = decodeModel(fs.readFileSync(optimized)).graph.node.map((n) => n.opType);
  const convs = decodeModel(bytes).graph.node.filter((n) => n.opType === 'Conv').length;
  assert.equal(ops.filter((o) => o === 'QLinearConv').length, convs, 'every Conv fused into QLinearConv');
  assert.ok(ops.filter((o) => o === 'QuantizeLinear').length <= 1, 'no requantisation between layers');
  const fs32 = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const feed = { [fs32.inputNames[0]!]: new ort.Tensor('float32', x.subarray(12 * per), [4, 224, 224, 3]) };
  const a = (await fs32.run(feed))[fs32.outputNames[0]!]!.data as Float32Array;
  const b = (await qs.run(feed))[qs.outputNames[0]!]!.data as Float32Array;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) [dot, na, nb] = [dot + a[i]! * b[i]!, na + a[i]! ** 2, nb + b[i]! ** 2];
  const cos = dot / Math.sqrt(na * nb);
  assert.ok(cos > 0.85, `cosine of int8 vs fp32 features ${cos}`);
  await Promise.all([cs.release(), qs.release(), fs32.release()]);
});
