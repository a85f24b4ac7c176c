/**
 * tfjs LayersModel → ONNX converter: ORT must reproduce tfjs (wasm) outputs.
 * Run: node --import tsx --test test/convert.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { OrtSession } from '../src/engine/ort.js';
import { layersModelToOnnx, supportedLayerClasses } from '../src/convert/tfjs-to-onnx.js';
import { loadNsfwjsModel, type NsfwjsModelName } from '../src/models/nsfwjs.js';
import { rng } from '../src/util/rng.js';
import { GraftAdaptiveAvgPool2D, GraftHardSigmoid, GraftHardSwish } from '../src/models/tv/layers.js';

const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'output lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** tfjs output of the model cut at `layerName`. */
function tfjsAt(model: tfl.LayersModel, layerName: string, x: Float32Array, shape: number[]): { data: Float32Array; dims: number[] } {
  const cut = tfl.model({ inputs: model.inputs, outputs: model.getLayer(layerName).output as tfl.SymbolicTensor });
  return tf.tidy(() => {
    const y = cut.predict(tf.tensor(x, shape)) as tf.Tensor;
    return { data: y.dataSync() as Float32Array, dims: y.shape };
  });
}

async function ortAt(model: tfl.LayersModel, layerName: string, x: Float32Array, shape: number[], foldBatchNorm = true) {
  const onnx = layersModelToOnnx(model, { output: layerName, foldBatchNorm });
  const sess = await OrtSession.create(onnx);
  try {
    return await sess.run(x, shape);
  } finally {
    await sess.release();
  }
}

/** Replace every weight with seeded random values (positive variances/scales for BatchNorm). */
function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  const r = rng(seed);
  for (const layer of model.layers) {
    const vars = layer.weights;
    if (!vars.length) continue;
    const values = vars.map((v) => {
      const shape = v.shape.map((d) => d ?? 1);
      const n = shape.reduce((a, b) => a * b, 1);
      const short = v.originalName.slice(v.originalName.lastIndexOf('/') + 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        if (short.startsWith('moving_variance') || short.startsWith('gamma')) data[i] = 0.5 + r();
        else data[i] = (r() - 0.5) * (short.includes('kernel') ? 0.8 : 0.4);
      }
      return tf.tensor(data, shape);
    });
    layer.setWeights(values);
    values.forEach((t) => t.dispose());
  }
}

function randomInput(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r());
}

/** A small functional model that uses every converter-supported layer type. */
function tinyModel(): tfl.LayersModel {
  const L = tfl.layers;
  const inp = tfl.input({ shape: [15, 13, 3], name: 'img' });
  const pad = L.zeroPadding2d({ padding: [[1, 2], [0, 1]], name: 'pad0' }).apply(inp) as tfl.SymbolicTensor; // folds into conv pads
  const c1 = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c1' }).apply(pad) as tfl.SymbolicTensor; // 18x14 → 9x7
  const bn1 = L.batchNormalization({ scale: false, name: 'bn1' }).apply(c1) as tfl.SymbolicTensor; // after relu: a BN op
  const dw = L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, useBias: false, name: 'dw' }).apply(bn1) as tfl.SymbolicTensor; // 9x7 → 5x4, 16 ch
  const bn2 = L.batchNormalization({ epsilon: 1e-2, name: 'bn2' }).apply(dw) as tfl.SymbolicTensor; // folded
  const r6 = L.reLU({ maxValue: 6, name: 'r6' }).apply(bn2) as tfl.SymbolicTensor;
  // Inception-style branches
  const a = L.conv2d({ filters: 6, kernelSize: [1, 3], padding: 'same', useBias: false, name: 'a_conv' }).apply(r6) as tfl.SymbolicTensor;
  const aBn = L.batchNormalization({ center: false, name: 'a_bn' }).apply(a) as tfl.SymbolicTensor;
  const aAct = L.activation({ activation: 'relu6', name: 'a_act' }).apply(aBn) as tfl.SymbolicTensor;
  const bMax = L.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'b_max' }).apply(r6) as tfl.SymbolicTensor;
  const cAvg = L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'c_avg' }).apply(r6) as tfl.SymbolicTensor; // 5x4 → 3x2
  const cUp = L.conv2d({ filters: 4, kernelSize: 2, strides: 1, padding: 'valid', activation: 'sigmoid', name: 'c_conv' }).apply(
    L.zeroPadding2d({ padding: [[1, 2], [1, 1]], name: 'c_pad' }).apply(cAvg) as tfl.SymbolicTensor,
  ) as tfl.SymbolicTensor; // 6x4 → 5x3
  const cFix = L.zeroPadding2d({ padding: [[0, 0], [0, 1]], name: 'c_fix' }).apply(cUp) as tfl.SymbolicTensor; // Pad node → 5x4
  const cat = L.concatenate({ axis: -1, name: 'cat' }).apply([aAct, bMax, cFix]) as tfl.SymbolicTensor; // 6+16+4 = 26 ch
  const sep = L.separableConv2d({ filters: 26, kernelSize: 3, padding: 'same', dilationRate: 2, depthMultiplier: 1, name: 'sep' }).apply(cat) as tfl.SymbolicTensor;
  const add = L.add({ name: 'add' }).apply([sep, cat]) as tfl.SymbolicTensor;
  const act = L.activation({ activation: 'tanh', name: 'act_tanh' }).apply(add) as tfl.SymbolicTensor;
  const lk = L.leakyReLU({ alpha: 0.2, name: 'leaky' }).apply(act) as tfl.SymbolicTensor;
  const mp = L.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: 'mp' }).apply(lk) as tfl.SymbolicTensor; // 2x2
  const ap = L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid', name: 'ap' }).apply(lk) as tfl.SymbolicTensor; // 4x3
  const gap = L.globalAveragePooling2d({ name: 'gap' }).apply(ap) as tfl.SymbolicTensor; // 26
  const gmp = L.globalMaxPooling2d({ name: 'gmp' }).apply(lk) as tfl.SymbolicTensor; // 26
  const flat = L.flatten({ name: 'flat' }).apply(mp) as tfl.SymbolicTensor; // 2*2*26 = 104, NHWC order
  const feats = L.concatenate({ name: 'feats' }).apply([gap, gmp, flat]) as tfl.SymbolicTensor;
  const d1 = L.dense({ units: 24, activation: 'relu', name: 'd1' }).apply(feats) as tfl.SymbolicTensor;
  const drop = L.dropout({ rate: 0.5, name: 'drop' }).apply(d1) as tfl.SymbolicTensor;
  const d2 = L.dense({ units: 16, name: 'd2' }).apply(drop) as tfl.SymbolicTensor;
  const bnD = L.batchNormalization({ name: 'bn_d' }).apply(d2) as tfl.SymbolicTensor; // folded into the Gemm
  const sw = L.activation({ activation: 'swish', name: 'sw' }).apply(bnD) as tfl.SymbolicTensor;
  const out = L.dense({ units: 5, activation: 'softmax', name: 'probs' }).apply(sw) as tfl.SymbolicTensor;
  return tfl.model({ inputs: inp, outputs: out });
}

test('tiny model with every supported layer: ORT equals tfjs', async (t) => {
  await initTf();
  const model = tinyModel();
  randomizeWeights(model, 7);
  const shape = [3, 15, 13, 3];
  const x = randomInput(shape, 11);
  let worst = 0;
  let scale = 0;
  // 4-D cut points come back NHWC; 2-D ones [N,D].
  for (const layer of ['pad0', 'c1', 'r6', 'cat', 'add', 'leaky', 'flat', 'feats', 'probs']) {
    const ref = tfjsAt(model, layer, x, shape);
    for (const fold of [true, false]) {
      const got = await ortAt(model, layer, x, shape, fold);
      assert.deepEqual(got.dims, ref.dims, `${layer}: dims`);
      const d = maxAbsDiff(got.data, ref.data);
      assert.ok(d <= TOL, `${layer} (fold=${fold}): max abs diff ${d}`);
      worst = Math.max(worst, d);
    }
    scale = Math.max(scale, ...Array.from(ref.data, Math.abs));
  }
  t.diagnostic(`max abs diff ${worst.toExponential(2)} (largest |value| ${scale.toFixed(2)})`);
  model.dispose();
});

test('torchvision layers: hard-swish/sigmoid, broadcast multiply (SE), adaptive average pooling', async (t) => {
  await initTf();
  const L = tfl.layers;
  const inp = tfl.input({ shape: [10, 9, 4], name: 'img' });
  const c = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'c' }).apply(inp) as tfl.SymbolicTensor;
  const hs = new GraftHardSwish({ name: 'hswish' }).apply(c) as tfl.SymbolicTensor;
  // squeeze-excitation: [N,1,1,C] gate times the [N,H,W,C] map
  const sq = L.averagePooling2d({ poolSize: [10, 9], strides: [10, 9], name: 'sq' }).apply(hs) as tfl.SymbolicTensor;
  const fc = L.conv2d({ filters: 6, kernelSize: 1, name: 'fc' }).apply(sq) as tfl.SymbolicTensor;
  const gate = new GraftHardSigmoid({ name: 'hsig' }).apply(fc) as tfl.SymbolicTensor;
  const se = L.multiply({ name: 'se' }).apply([gate, hs]) as tfl.SymbolicTensor;
  const ap7 = new GraftAdaptiveAvgPool2D({ outputSize: [7, 7], name: 'ap7' }).apply(se) as tfl.SymbolicTensor; // 10×9 → 7×7: overlapping windows
  const ap5 = new GraftAdaptiveAvgPool2D({ outputSize: [5, 3], name: 'ap5' }).apply(se) as tfl.SymbolicTensor; // 10×9 → 5×3: plain pooling
  const flat = L.flatten({ name: 'flat' }).apply(ap7) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: [flat, ap5] });
  randomizeWeights(model, 3);
  const shape = [2, 10, 9, 4];
  const x = Float32Array.from(randomInput(shape, 5), (v) => 8 * v - 4); // spans hard-swish's bends at ±3
  let worst = 0;
  for (const layer of ['hswish', 'hsig', 'se', 'ap7', 'ap5', 'flat']) {
    const ref = tfjsAt(model, layer, x, shape);
    const got = await ortAt(model, layer, x, shape);
    assert.deepEqual(got.dims, ref.dims, `${layer}: dims`);
    const d = maxAbsDiff(got.data, ref.data);
    assert.ok(d <= TOL, `${layer}: max abs diff ${d}`);
    worst = Math.max(worst, d);
  }
  // PyTorch semantics, checked by hand on a few values
  const vs = [-4, -3, -1, 0, 1.5, 3, 5, 0.5];
  const [hsw, hsg] = tf.tidy(() => {
    const v = tf.tensor4d(vs, [1, 1, 8, 1]);
    return [(new GraftHardSwish({}).apply(v) as tf.Tensor).dataSync(), (new GraftHardSigmoid({}).apply(v) as tf.Tensor).dataSync()];
  });
  assert.ok(maxAbsDiff(hsw!, vs.map((v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6)) < 1e-6);
  assert.ok(maxAbsDiff(hsg!, vs.map((v) => Math.min(Math.max(v + 3, 0), 6) / 6)) < 1e-6);
  // adaptive windows as torch takes them: 2 → 7 repeats and overlaps, 1 → 7 copies
  const two = tf.tidy(() => (new GraftAdaptiveAvgPool2D({ outputSize: [1, 7] }).apply(tf.tensor4d([2, 4], [1, 1, 2, 1])) as tf.Tensor).dataSync());
  assert.deepEqual(Array.from(two), [2, 2, 2, 3, 4, 4, 4]);
  t.diagnostic(`max abs diff ${worst.toExponential(2)}`);
  model.dispose();
});

/** Smooth gradient images in [0,1], NHWC. */
function gradientImages(n: number, size: number): Float32Array {
  const x = new Float32Array(n * size * size * 3);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++)
        for (let c = 0; c < 3; c++) {
          const u = i / (size - 1);
          const v = j / (size - 1);
          x[((b * size + i) * size + j) * 3 + c] =
            b % 2 === 0 ? (0.6 * u + 0.3 * v + 0.1 * c) / 1.2 : 0.5 + 0.5 * Math.sin(3 * u + 2 * c) * Math.cos(4 * v - c);
        }
  return x;
}

async function checkNsfwjs(name: NsfwjsModelName, size: number, dim: number): Promise<number> {
  const { model } = await loadNsfwjsModel(name);
  const shape = [2, size, size, 3];
  const x = gradientImages(2, size);
  const ref = tfjsAt(model, 'flatten_1', x, shape);
  const got = await ortAt(model, 'flatten_1', x, shape);
  model.dispose();
  assert.deepEqual(got.dims, [2, dim]);
  assert.deepEqual(ref.dims, [2, dim]);
  const d = maxAbsDiff(got.data, ref.data);
  assert.ok(d <= TOL, `${name}: max abs diff ${d}`);
  return d;
}

test('nsfwjs mobilenet_v2 cut at flatten_1 (1280-d): ORT equals tfjs', async (t) => {
  await initTf();
  const d = await checkNsfwjs('mobilenet_v2', 224, 1280);
  t.diagnostic(`max abs diff ${d.toExponential(2)}`);
});

test('nsfwjs mobilenet_v2 block cut points come back NHWC', async () => {
  await initTf();
  const { model } = await loadNsfwjsModel('mobilenet_v2');
  const shape = [1, 224, 224, 3];
  const x = gradientImages(1, 224);
  for (const [layer, dims] of [
    ['block_13_expand_relu', [1, 14, 14, 576]],
    ['block_16_project_BN', [1, 7, 7, 320]],
  ] as const) {
    const ref = tfjsAt(model, layer, x, shape);
    const got = await ortAt(model, layer, x, shape);
    assert.deepEqual(got.dims, dims);
    assert.deepEqual(ref.dims, dims);
    const d = maxAbsDiff(got.data, ref.data);
    assert.ok(d <= TOL, `${layer}: max abs diff ${d}`);
  }
  model.dispose();
});

test('nsfwjs inception_v3 cut at flatten_1 (2048-d): ORT equals tfjs', async (t) => {
  await initTf();
  const d = await checkNsfwjs('inception_v3', 299, 2048);
  t.diagnostic(`max abs diff ${d.toExponential(2)}`);
});

test('unsupported layers give a clear error; layers beyond the cut do not matter', async () => {
  await initTf();
  const inp = tfl.input({ shape: [8, 8, 2] });
  const c = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'ok_conv' }).apply(inp) as tfl.SymbolicTensor;
  const up = tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3, name: 'deconv' }).apply(c) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: up });
  assert.throws(
    () => layersModelToOnnx(model, { output: 'deconv' }),
    (e: Error) => /^cannot convert layer deconv \(Conv2DTranspose\) to ONNX: this layer type is not supported by the converter \(supported: .*\bConv2D\b.*\)$/.test(e.message),
  );
  // One table entry per supported Keras class (layers/index.ts); every class the converter ever handled is in it.
  for (const cls of ['InputLayer', 'ZeroPadding2D', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'Add', 'Multiply', 'Subtract', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten', 'Dense', 'GraftHardSigmoid', 'GraftHardSwish', 'GraftAdaptiveAvgPool2D', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']) {
    assert.ok(supportedLayerClasses().includes(cls), cls);
  }
  assert.ok(layersModelToOnnx(model, { output: 'ok_conv' }).length > 0);
  assert.throws(() => layersModelToOnnx(model, { output: 'nope' }), /no layer named 'nope'/);
  const inp2 = tfl.input({ shape: [8, 8, 2] });
  const bad = tfl.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'gelu', name: 'gelu_conv' }).apply(inp2) as tfl.SymbolicTensor;
  assert.throws(
    () => layersModelToOnnx(tfl.model({ inputs: inp2, outputs: bad }), { output: 'gelu_conv' }),
    /^Error: cannot convert layer gelu_conv \(Conv2D\) to ONNX: activation 'gelu' is not supported$/,
  );
  const inner = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 2, name: 'inner_dense' })], name: 'inner' });
  const outerIn = tfl.input({ shape: [4] });
  const outer = tfl.model({ inputs: outerIn, outputs: inner.apply(outerIn) as tfl.SymbolicTensor, name: 'outer' });
  assert.throws(() => layersModelToOnnx(outer, { output: 'inner' }), /cannot convert layer inner \(\w+\) to ONNX: nested models/);
  model.dispose();
});
