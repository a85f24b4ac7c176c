/**
 * Frozen BatchNorm folded into the convolution before it (src/models/fold-bn.ts) and the fused
 * convolution + bias + ReLU(6) op (src/engine/conv-act.ts): the folded tail computes the same
 * outputs and gradients as the unfolded one, and a few AdamW steps end at the same weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { convAct } from '../src/engine/conv-act.js';
import { buildTail } from '../src/models/tail.js';
import { Trainer } from '../src/train/trainer.js';
import { rng, tfSeed } from '../src/util/rng.js';

type Sym = tfl.SymbolicTensor;

/** max|a − b| / max(1e-12, max|b|) */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 1e-12;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/**
 * A MobileNetV2-like block with seeded weights and non-trivial BN statistics: expand 1×1 → BN →
 * ReLU6 → zero padding + depthwise 3×3 stride 2 (valid) → BN → ReLU6 → project 1×1 (with a bias) → BN → 1×1 → BN →
 * ReLU → pool. The first conv is fed by the input (its input gradient is not needed).
 */
function block(): tfl.LayersModel {
  let seed = 5;
  const init = () => tfl.initializers.glorotUniform({ seed: tfSeed(seed++) });
  const inp = tfl.input({ shape: [9, 9, 6], name: 'in' });
  const bn = (name: string) => tfl.layers.batchNormalization({ name, epsilon: 1e-3 });
  let x = tfl.layers.conv2d({ filters: 12, kernelSize: 1, useBias: false, kernelInitializer: init(), name: 'expand' }).apply(inp) as Sym;
  x = bn('expand_bn').apply(x) as Sym;
  x = tfl.layers.reLU({ maxValue: 6, name: 'expand_relu' }).apply(x) as Sym;
  x = tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad' }).apply(x) as Sym;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false, depthwiseInitializer: init(), name: 'dw' }).apply(x) as Sym;
  x = bn('dw_bn').apply(x) as Sym;
  x = tfl.layers.reLU({ maxValue: 6, name: 'dw_relu' }).apply(x) as Sym;
  x = tfl.layers.conv2d({ filters: 8, kernelSize: 1, useBias: true, kernelInitializer: init(), biasInitializer: 'ones', name: 'project' }).apply(x) as Sym;
  x = bn('project_bn').apply(x) as Sym;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, kernelInitializer: init(), name: 'last' }).apply(x) as Sym;
  x = bn('last_bn').apply(x) as Sym;
  x = tfl.layers.reLU({ name: 'last_relu' }).apply(x) as Sym;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as Sym;
  const model = tfl.model({ inputs: inp, outputs: x });
  const r = rng(3);
  for (const l of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const c = l.getWeights()[0].shape[0];
    const v = (lo: number, hi: number) => tf.tensor1d(Float32Array.from({ length: c }, () => lo + r() * (hi - lo)));
    l.setWeights([v(0.5, 2), v(-0.5, 0.5), v(-0.3, 0.3), v(0.2, 1.5)]); // gamma, beta, mean, variance
  }
  return model;
}

/** The tail (fold on or off) with a head, on flat inputs; its weights listed in a fixed order. */
function classifier(fold: boolean): { model: tfl.LayersModel; weights: tfl.LayerVariable[] } {
  const tail = buildTail(block(), 'in', 'pool', { foldBatchNorm: fold });
  const i = tfl.input({ shape: [9 * 9 * 6] });
  let y = tfl.layers.reshape({ targetShape: [9, 9, 6] }).apply(i) as Sym;
  y = tail.apply(y) as Sym;
  y = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 9 }), name: 'logits' }).apply(y) as Sym;
  const model = tfl.model({ inputs: i, outputs: y });
  return { model, weights: model.trainableWeights.slice().sort((p, q) => (p.name < q.name ? -1 : 1)) };
}

const inputs = (n: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n * 486 }, () => r() * 4 - 1);
};

test('folded BN: same outputs and weight gradients as the unfolded tail', async () => {
  await initTf();
  const [plain, folded] = [classifier(false), classifier(true)];
  const tags = (m: tfl.LayersModel) => m.layers.flatMap((l) => (l instanceof tfl.LayersModel ? l.layers : [l])).filter((l) => (l as unknown as { __graft?: Set<string> }).__graft?.has('bn-folded')).map((l) => l.name);
  assert.deepEqual(tags(folded.model).sort(), ['dw', 'expand', 'last', 'project'], 'every conv → BN pair is folded');
  assert.deepEqual(tags(plain.model), []);
  const padLayer = folded.model.layers.flatMap((l) => (l instanceof tfl.LayersModel ? l.layers : [l])).find((l) => l.name === 'pad')!;
  assert.ok((padLayer as unknown as { __graft: Set<string> }).__graft.has('folded-into-conv'), 'the zero padding becomes the depthwise conv\'s');
  assert.deepEqual(folded.weights.map((w) => w.shape), plain.weights.map((w) => w.shape));
  const x = tf.tensor2d(inputs(5, 1), [5, 486]);
  const probe = tf.tensor2d(Float32Array.from({ length: 15 }, (_, k) => Math.sin(k)), [5, 3]);
  const run = (m: typeof plain) => {
    const out = m.model.apply(x, { training: true }) as tf.Tensor;
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.model.apply(x, { training: true }) as tf.Tensor, probe)) as tf.Scalar, m.weights.map((w) => (w as unknown as { val: tf.Variable }).val));
    const res = { out: out.dataSync().slice(), grads: m.weights.map((w) => grads[(w as unknown as { val: tf.Variable }).val.name].dataSync().slice()) };
    tf.dispose([out, ...Object.values(grads)]);
    return res;
  };
  const [a, b] = [run(plain), run(folded)];
  const e = relErr(b.out, a.out);
  assert.ok(e <= 1e-5, `outputs differ by ${e} (relative)`);
  assert.ok(a.out.some((v) => v !== 0));
  plain.weights.forEach((w, k) => {
    const g = relErr(b.grads[k], a.grads[k]);
    assert.ok(g <= 1e-5, `gradient of ${w.name} differs by ${g} (relative)`);
    assert.ok(a.grads[k].some((v) => v !== 0), `${w.name} gets a gradient`);
  });
  tf.dispose([x, probe]);
  plain.model.dispose();
  folded.model.dispose();
});

test('folded BN: a few AdamW steps give the same weights (1e-5 relative)', async () => {
  await initTf();
  const n = 24;
  const data = { x: inputs(n, 2), y: Int32Array.from({ length: n }, (_, i) => i % 3), n, dim: 486 };
  const train = async (fold: boolean) => {
    const m = classifier(fold);
    await new Trainer(m.model, { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.01, batchSize: 8, epochs: 2, schedule: 'constant', seed: 4 }).fit(data);
    const w = m.weights.map((v) => ({ name: v.name, data: v.read().dataSync().slice() }));
    m.model.dispose();
    return w;
  };
  const [a, b] = [await train(false), await train(true)];
  a.forEach((w, k) => {
    const e = relErr(b[k].data, w.data);
    assert.ok(e <= 1e-5, `${w.name} differs by ${e} (relative) after 6 steps`);
  });
});

test('convAct: gradients equal autodiff of conv + bias + activation (1×1, 3×3, depthwise; relu6 kinks avoided)', async () => {
  await initTf();
  const r = rng(11);
  const t = (shape: number[], lo = -1, hi = 1) => tf.tensor(Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => lo + r() * (hi - lo)), shape);
  const cases: { depthwise: boolean; k: number; cin: number; cout: number; strides: number; pad: 'same' | 'valid'; act: 'linear' | 'relu' | 'relu6' }[] = [
    { depthwise: false, k: 1, cin: 70, cout: 24, strides: 1, pad: 'valid', act: 'relu6' },
    { depthwise: false, k: 3, cin: 3, cout: 8, strides: 2, pad: 'same', act: 'relu' },
    { depthwise: true, k: 3, cin: 12, cout: 12, strides: 1, pad: 'same', act: 'relu6' },
    { depthwise: true, k: 3, cin: 12, cout: 12, strides: 2, pad: 'valid', act: 'linear' },
  ];
  for (const c of cases) {
    const x = t([2, 7, 7, c.cin], -2, 4);
    const w = c.depthwise ? t([c.k, c.k, c.cin, 1]) : t([c.k, c.k, c.cin, c.cout], -0.5, 0.5);
    const b = t([c.cout], -1, 5);
    const dy = t([2, ...(c.strides === 2 ? (c.pad === 'same' ? [4, 4] : [3, 3]) : [7, 7]), c.cout]);
    const composed = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
      const z = c.depthwise ? tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad) : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad);
      const s = tf.add(z, bb);
      return c.act === 'relu6' ? tf.relu6(s) : c.act === 'relu' ? tf.relu(s) : s;
    };
    const fused = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => convAct(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D, { depthwise: c.depthwise, strides: c.strides, pad: c.pad, activation: c.act });
    const ref = tf.grads((xx, ww, bb) => tf.sum(tf.mul(composed(xx, ww, bb), dy)))([x, w, b]);
    const got = tf.grads((xx, ww, bb) => tf.sum(tf.mul(fused(xx, ww, bb), dy)))([x, w, b]);
    const [yr, yg] = [composed(x, w, b), fused(x, w, b)];
    const label = JSON.stringify(c);
    assert.ok(relErr(yg.dataSync(), yr.dataSync()) <= 1e-5, `${label}: outputs`);
    ['x', 'filter', 'bias'].forEach((name, k) => {
      const e = relErr(got[k].dataSync(), ref[k].dataSync());
      assert.ok(e <= 1e-5, `${label}: d${name} differs by ${e}`);
    });
    if (c.act !== 'linear') assert.ok(yg.dataSync().some((v) => v === 0), `${label}: some outputs clipped at 0`);
    if (c.act === 'relu6') assert.ok(yg.dataSync().some((v) => v === 6), `${label}: some outputs clipped at 6`);
    tf.dispose([x, w, b, dy, yr, yg, ...ref, ...got]);
  }
});
