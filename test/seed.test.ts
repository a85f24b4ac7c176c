/** Seeds that reach tfjs: seed 0 must be as reproducible as any other (tfjs treats a falsy seed as unseeded). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf, initTf } from '../src/engine/tfjs.js';
import { smallCnn } from '../src/models/small-cnn.js';
import { buildHead } from '../src/train/heads.js';
import { buildMlp } from '../src/strategies/disentangle/dsn.js';
import { buildDiscriminator } from '../src/strategies/adapt/dann.js';
import { Trainer, type Examples } from '../src/train/trainer.js';
import { rng, tfSeed } from '../src/util/rng.js';

const weights = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

async function twice(build: () => tfl.LayersModel, check: (a: number[][], b: number[][]) => void) {
  const a = build();
  const b = build();
  try {
    check(weights(a), weights(b));
  } finally {
    a.dispose();
    b.dispose();
  }
}

test('tfSeed: 0 maps to a non-zero seed no uint32 seed collides with, others pass unchanged', () => {
  assert.equal(tfSeed(0), 2 ** 32);
  for (const s of [1, 2, 7, 2 ** 32 - 1]) assert.equal(tfSeed(s), s);
  assert.throws(() => tfSeed(Number.NaN), /finite/);
});

test('seed 0 builds the same weights twice: small CNN (He-normal convs), MLP head, DSN MLP, DANN discriminator', async () => {
  await initTf();
  const same = (a: number[][], b: number[][]) => assert.deepEqual(a, b);
  await twice(() => smallCnn({ size: 12, numClasses: 3, widths: [4, 8], seed: 0 }), same);
  await twice(() => buildHead({ kind: 'mlp', inputDim: 6, numClasses: 3, hidden: [8] }, 0), same);
  await twice(() => buildMlp('enc', [6, 8, 4], 0), same);
  await twice(() => buildDiscriminator(6, 8, 0), same);
  // …and different seeds still give different networks.
  const a = smallCnn({ size: 12, numClasses: 3, widths: [4, 8], seed: 0 });
  const b = smallCnn({ size: 12, numClasses: 3, widths: [4, 8], seed: 1 });
  assert.notDeepEqual(weights(a)[0], weights(b)[0]);
  a.dispose();
  b.dispose();
});

test('seed 0: two small-CNN trainings (dropout on) end with identical weights', async () => {
  await initTf();
  const r = rng(5);
  const n = 24;
  const size = 8;
  const ex: Examples = { x: Float32Array.from({ length: n * size * size * 3 }, () => r()), y: Int32Array.from({ length: n }, (_, i) => i % 3), n, dim: size * size * 3 };
  const run = async () => {
    const m = smallCnn({ size, numClasses: 3, widths: [4, 8], dropout: 0.5, seed: 0 });
    try {
      await new Trainer(m, { optimizer: 'adam', lr: 1e-2, epochs: 3, batchSize: 8, seed: 0, restoreBest: false }).fit(ex);
      return weights(m);
    } finally {
      m.dispose();
    }
  };
  const before = tf.memory().numTensors;
  assert.deepEqual(await run(), await run());
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
});
