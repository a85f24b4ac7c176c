/** Cached augmented views: view geometry on real pixels, view-keyed feature rows, the per-epoch source. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeMnistImageFolder, loadImageFolder, decodeToRgb, decodeToTensorData, type Preprocess } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { AUGMENT_VIEWS, firstViews, type AugmentView } from '../src/data/augment.js';
import { extractFeatures, openStoreFor, contentHash } from '../src/features/extract.js';
import { openBackbone } from '../src/models/backbone.js';
import type { Backbone } from '../src/models/types.js';
import { augmentedSource, viewPicker } from '../src/train/augment-source.js';
import { EVAL_EPOCH, range } from '../src/train/source.js';
import { Trainer } from '../src/train/trainer.js';
import { initTf, tf } from '../src/engine/tfjs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-aug-'));
const data = path.join(tmp, 'digits');
process.env.GRAFT_HOME = path.join(tmp, 'home');
const UNIT = { mean: [0, 0, 0], std: [1, 1, 1] } as Pick<Preprocess, 'mean' | 'std'>;
let samples: Sample[] = [];
let bb: Backbone | undefined;

const memSample = (id: string, bytes: Buffer, label = 0, raw?: Sample['raw']): Sample => ({
  id,
  label,
  split: 'train',
  kind: raw ? 'raw' : 'encoded',
  ...(raw ? { raw } : {}),
  load: async () => bytes,
});

/** Pixel (y, x, c) of interleaved RGB w wide. */
const px = (rgb: Uint8Array, w: number, y: number, x: number, c: number) => rgb[(y * w + x) * 3 + c]!;

before(async () => {
  await writeMnistImageFolder(data, 4);
  const ds = await loadImageFolder(data, { classes: ['0', '1', '7'], valPercent: 0, testPercent: 0 });
  samples = ds.samples;
  assert.equal(samples.length, 12);
});

after(async () => {
  await bb?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('views: a fixed ordered set; --augment N takes the first N; unknown names are clear errors', async () => {
  assert.equal(AUGMENT_VIEWS.length, 12);
  assert.equal(new Set(AUGMENT_VIEWS).size, 12);
  assert.deepEqual(firstViews(2), ['none', 'flip']);
  assert.throws(() => firstViews(13), /--augment takes a number of views from 1 to 12, got 13/);
  await assert.rejects(decodeToRgb(samples[0]!, { ...UNIT, size: [28, 28], resize: 'squash' }, 'rotate' as AugmentView), /unknown augmentation view "rotate"; known views: none, flip/);
});

test('flip mirrors a real digit pixel for pixel; the default path equals view "none"', async () => {
  for (const pre of [
    { ...UNIT, size: [224, 224], resize: 'squash' },
    { size: [40, 36], resize: 'center-crop', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  ] as Preprocess[]) {
    const [h, w] = pre.size;
    for (const s of samples.slice(0, 3)) {
      const plain = await decodeToRgb(s, pre);
      const flip = await decodeToRgb(s, pre, 'flip');
      assert.equal(flip.length, h * w * 3);
      assert.ok(!plain.equals(flip), `${s.id}: digit is not mirror-symmetric, so flip must differ`);
      let bad = 0;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) if (px(flip, w, y, x, c) !== px(plain, w, y, w - 1 - x, c)) bad++;
      assert.equal(bad, 0, `${s.id} ${pre.resize}: flip differs from the mirrored plain view in ${bad} values`);
      const t0 = await decodeToTensorData(s, pre);
      const t1 = await decodeToTensorData(s, pre, 'none');
      assert.deepEqual(Buffer.from(t1.buffer), Buffer.from(t0.buffer), 'view none is the default path');
    }
  }
});

test('crops: network size, zoom into the right corner (squash and center-crop), encoded and raw pixels alike', async () => {
  // 64×64 quadrants: red | green over blue | white. The plain view's vertical and horizontal edges sit at
  // the middle; a crop shows 87.5% of the field, so its edges move to 0.5/0.875 (left/top crops) or
  // 0.375/0.875 (right/bottom crops) of the window.
  const S = 64;
  const quad = Buffer.alloc(S * S * 3);
  const colours = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 255],
  ];
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) quad.set(colours[(y < S / 2 ? 0 : 2) + (x < S / 2 ? 0 : 1)]!, (y * S + x) * 3);
  const png = await sharp(quad, { raw: { width: S, height: S, channels: 3 } }).png().toBuffer();
  const enc = memSample('quad.png', png);
  const raw = memSample('raw:quad', quad, 0, { width: S, height: S, channels: 3 });
  const N = 56;
  /** First column (on row 4) whose green channel is high, and first row (column 4) whose blue channel is high. */
  const edges = (rgb: Uint8Array) => {
    let ex = 0;
    while (ex < N && px(rgb, N, 4, ex, 1) < 128) ex++;
    let ey = 0;
    while (ey < N && px(rgb, N, ey, 4, 2) < 128) ey++;
    return [ex, ey];
  };
  for (const pre of [
    { ...UNIT, size: [N, N], resize: 'squash' },
    { ...UNIT, size: [N, N], resize: 'center-crop', cropFraction: 0.875 },
  ] as Preprocess[]) {
    const plain = await decodeToRgb(enc, pre);
    assert.deepEqual(edges(plain), [28, 28], `${pre.resize}: plain view edges`);
    const want: Record<string, [number, number]> = { 'crop-tl': [32, 32], 'crop-tr': [24, 32], 'crop-bl': [32, 24], 'crop-br': [24, 24], 'crop-c': [28, 28] };
    const seen: Buffer[] = [plain];
    for (const [v, [ex, ey]] of Object.entries(want)) {
      const rgb = await decodeToRgb(enc, pre, v as AugmentView);
      assert.equal(rgb.length, N * N * 3, `${v}: network size`);
      const [gx, gy] = edges(rgb);
      assert.ok(Math.abs(gx - ex) <= 1 && Math.abs(gy - ey) <= 1, `${pre.resize} ${v}: edges at ${gx},${gy}, expected ≈${ex},${ey}`);
      assert.ok(seen.every((o) => !o.equals(rgb)), `${pre.resize} ${v}: differs from none and the other crops`);
      seen.push(rgb);
      assert.ok((await decodeToRgb(raw, pre, v as AugmentView)).equals(rgb), `${v}: raw pixels give the same view as the PNG`);
      const fl = await decodeToRgb(enc, pre, `${v}-flip` as AugmentView);
      let bad = 0;
      for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) for (let c = 0; c < 3; c++) if (px(fl, N, y, x, c) !== px(rgb, N, y, N - 1 - x, c)) bad++;
      assert.equal(bad, 0, `${v}-flip mirrors ${v}`);
    }
  }
  // A real digit: every crop has the network size and differs from the plain view.
  const pre: Preprocess = { ...UNIT, size: [224, 224], resize: 'squash' };
  const plain = await decodeToRgb(samples[0]!, pre);
  for (const v of AUGMENT_VIEWS.filter((v) => v.startsWith('crop'))) {
    const rgb = await decodeToRgb(samples[0]!, pre, v);
    assert.equal(rgb.length, 224 * 224 * 3);
    assert.ok(!rgb.equals(plain), `${v} differs from none on a digit`);
  }
});

async function backbone(): Promise<Backbone> {
  bb ??= await openBackbone('mobilenet_v2', { layer: 'block_16_project_BN', threads: 1 });
  return bb;
}

test('extractFeatures view flip: the activations of the flipped pixels, cached under their own key', async () => {
  const b = await backbone();
  const few = samples.slice(0, 4);
  const none = await extractFeatures(few, b, { view: 'none' });
  const flip = await extractFeatures(few, b, { view: 'flip' });
  assert.equal(flip.computed, 4, 'flip rows are not served from the none store');
  assert.equal(flip.n, 4);
  const dim = b.dim;
  for (let i = 0; i < 4; i++) {
    const a = none.data.subarray(i * dim, (i + 1) * dim);
    const f = flip.data.subarray(i * dim, (i + 1) * dim);
    let diff = 0;
    for (let k = 0; k < dim; k++) diff = Math.max(diff, Math.abs(a[k]! - f[k]!));
    assert.ok(diff > 1e-2, `${few[i]!.id}: flip row differs from none (max |Δ| ${diff})`);
  }
  // The rows really are the network's output on the flipped pixels.
  const direct = await b.extract(await decodeToTensorData(few[2]!, b.spec.preprocess, 'flip'), 1);
  let err = 0;
  for (let k = 0; k < dim; k++) err = Math.max(err, Math.abs(direct[k]! - flip.data[2 * dim + k]!));
  assert.ok(err <= 1e-5, `flip row vs direct extraction: ${err}`);
  const again = await extractFeatures(few, b, { view: 'flip' });
  assert.equal(again.computed, 0, 'second call reads the cache');
  assert.equal(again.cached, 4);
  assert.deepEqual(again.data, flip.data);
});

test('augmented source: store rows of the picked view, every view once per cycle, none at EVAL_EPOCH, bad files dropped', async () => {
  const b = await backbone();
  const dim = b.dim;
  // A truncated copy of a real PNG: its hash is fine, decoding fails in every view.
  const bytes = fs.readFileSync(path.join(data, samples[5]!.id));
  const broken = memSample('7/broken.png', bytes.subarray(0, bytes.length >> 1), 2);
  const input = [...samples.slice(0, 5), broken, ...samples.slice(5)];
  const forward0 = b.forwardCount;
  const src = await augmentedSource(input, b, { views: 4, seed: 7 });
  try {
    assert.deepEqual(src.views, ['none', 'flip', 'crop-tl', 'crop-br-flip']);
    assert.equal(src.n, 12);
    assert.deepEqual(src.samples.map((s) => s.id), samples.map((s) => s.id), 'the broken file is dropped, order kept');
    assert.deepEqual(Array.from(src.y), samples.map((s) => s.label));
    assert.ok(src.skipped.some((s) => s.file === '7/broken.png'), 'skip reported');
    // 4 of 12 images already had none and flip rows (previous test); everything else was computed.
    assert.equal(src.computed, 12 * 4 - 8);
    assert.equal(b.forwardCount - forward0, 40);

    const stores = new Map(src.views.map((v) => [v, openStoreFor(b, v)]));
    const keys = await Promise.all(samples.map(contentHash));
    const V = src.views.length;
    const all = range(0, src.n);
    const perImage = samples.map(() => new Array<number>(V).fill(0));
    for (let epoch = 0; epoch < 2 * V; epoch++) {
      const x = await src.rows(all, epoch);
      assert.equal(x.length, src.n * dim);
      for (let i = 0; i < src.n; i++) {
        const v = src.pick(i, epoch);
        perImage[i]![v]!++;
        const want = stores.get(src.views[v]!)!.get(keys[i]!)!;
        assert.deepEqual(x.subarray(i * dim, (i + 1) * dim), want, `epoch ${epoch} example ${i}: row of view ${src.views[v]}`);
      }
    }
    for (const counts of perImage) assert.deepEqual(counts, [2, 2, 2, 2], 'every view twice in 2 cycles');
    // Picks vary between epochs and images (not the same view for everyone).
    assert.ok(new Set(samples.map((_, i) => src.pick(i, 0))).size > 1, 'epoch 0 mixes views across images');
    const e0 = await src.rows(Int32Array.of(3), 0);
    const e1 = await src.rows(Int32Array.of(3), 1);
    assert.notDeepEqual(e0, e1, 'consecutive epochs read different views');
    // Evaluation reads the plain view, whatever the picks.
    const ev = await src.rows(Int32Array.of(9, 0, 4), EVAL_EPOCH);
    [9, 0, 4].forEach((i, j) => assert.deepEqual(ev.subarray(j * dim, (j + 1) * dim), stores.get('none')!.get(keys[i]!)!));
    for (const s of stores.values()) s.close();

    // Deterministic: the same seed picks the same views; another seed does not.
    const p7 = viewPicker(V, 7);
    const p8 = viewPicker(V, 8);
    const seq = (p: (i: number, e: number) => number) => samples.flatMap((_, i) => [0, 1, 2, 3, 4, 5].map((e) => p(i, e))).join('');
    assert.equal(seq(p7), seq(src.pick));
    assert.notEqual(seq(p7), seq(p8));
    assert.throws(() => src.pick(0, EVAL_EPOCH), /epoch must be a training epoch/);

    const re = await augmentedSource(input, b, { views: 4, seed: 7 });
    assert.equal(re.computed, 0, 'second open: every view from the store');
    assert.deepEqual(await re.rows(all, 5), await src.rows(all, 5));
    re.close();
  } finally {
    src.close();
  }
  await assert.rejects(src.rows(range(0, 1), 0), /read after close/);
});

test('augmented source: a corrupted cached row is recomputed on reading, never served', async () => {
  const b = await backbone();
  const store = openStoreFor(b, 'crop-tl');
  const shard = fs.readdirSync(store.dir).filter((f) => f.endsWith('.shard')).map((f) => path.join(store.dir, f))[0]!;
  store.close();
  const buf = fs.readFileSync(shard);
  const key = buf.toString('hex', 4, 36); // first record's key
  const keys = await Promise.all(samples.map(contentHash));
  const i = keys.indexOf(key);
  assert.ok(i >= 0, 'first crop-tl record belongs to one of the samples');
  const good = openStoreFor(b, 'crop-tl');
  const want = good.get(key)!;
  good.close();
  buf[44 + 100] ^= 0xff; // one payload byte
  fs.writeFileSync(shard, buf);
  const src = await augmentedSource(samples, b, { views: 4, seed: 7 });
  try {
    assert.equal(src.computed, 0, 'the damaged row is still indexed at open');
    const epoch = [0, 1, 2, 3].find((e) => src.views[src.pick(i, e)] === 'crop-tl')!;
    const f0 = b.forwardCount;
    const got = await src.rows(Int32Array.of(i), epoch);
    assert.equal(b.forwardCount - f0, 1, 'recomputed with the backbone');
    let err = 0;
    for (let k = 0; k < b.dim; k++) err = Math.max(err, Math.abs(got[k]! - want[k]!));
    assert.ok(err <= 1e-5, `recomputed row equals the original (max |Δ| ${err})`);
  } finally {
    src.close();
  }
});

test('Trainer.fit over the augmented source: runs, tensor count flat across epochs', async () => {
  await initTf();
  const b = await backbone();
  const src = await augmentedSource(samples, b, { views: 4, seed: 1 });
  const requested = new Set<number>();
  const spy = { ...src, rows: (idx: Int32Array, epoch: number) => (requested.add(epoch), src.rows(idx, epoch)) };
  const inp = tfl.input({ shape: [b.dim] });
  let x = tfl.layers.reshape({ targetShape: [7, 7, 320] }).apply(inp) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: out });
  try {
    const counts: number[] = [];
    const t = new Trainer(model, { optimizer: 'adamw', lr: 1e-2, epochs: 8, batchSize: 4, seed: 1, callbacks: [{ onEpochEnd: () => void counts.push(tf.memory().numTensors) }] });
    const hist = await t.fit(spy, spy);
    assert.equal(hist.length, 8);
    for (const h of hist) assert.ok(Number.isFinite(h.loss) && Number.isFinite(h.val_loss!), 'finite losses');
    assert.ok(counts.every((c) => c === counts[0]), `tensors per epoch: ${counts.join(', ')}`);
    assert.deepEqual([...requested].sort((a, c) => a - c), [EVAL_EPOCH, 0, 1, 2, 3, 4, 5, 6, 7], 'trained on epochs 0..7, validated on the plain view');
  } finally {
    model.dispose();
    src.close();
  }
});
