import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assignSplit, isCifarDir, loadCifarDataset, loadDataset, planarToInterleaved } from '../src/data/index.js';
import type { Dataset, Sample } from '../src/data/index.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'graft-cifar-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const PIX = 1024;

/** Known planar pixels for record `seed`: R = (p + seed) % 256, G = (3p + 1) % 256, B = 255 - (p % 256). */
function planes(seed: number): Buffer {
  const b = Buffer.alloc(3 * PIX);
  for (let p = 0; p < PIX; p++) {
    b[p] = (p + seed) % 256;
    b[PIX + p] = (3 * p + 1) % 256;
    b[2 * PIX + p] = 255 - (p % 256);
  }
  return b;
}

function cifar10File(labels: number[], seed0 = 0): Buffer {
  return Buffer.concat(labels.map((l, i) => Buffer.concat([Buffer.from([l]), planes(seed0 + i)])));
}

function cifar100File(labels: [coarse: number, fine: number][], seed0 = 0): Buffer {
  return Buffer.concat(labels.map(([c, f], i) => Buffer.concat([Buffer.from([c, f]), planes(seed0 + i)])));
}

const CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

async function makeCifar10(dir: string, opts: { meta?: boolean; test?: boolean } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'data_batch_1.bin'), cifar10File([0, 1, 2, 3, 4, 5], 0));
  await writeFile(path.join(dir, 'data_batch_2.bin'), cifar10File([6, 7, 8, 9, 3, 5], 100));
  if (opts.test !== false) await writeFile(path.join(dir, 'test_batch.bin'), cifar10File([3, 5, 0, 9], 200));
  // The official meta file ends with blank lines.
  if (opts.meta !== false) await writeFile(path.join(dir, 'batches.meta.txt'), CIFAR10_NAMES.join('\n') + '\n\n\n');
}

const FINE = Array.from({ length: 100 }, (_, i) => `fine${i}`);
const COARSE = Array.from({ length: 20 }, (_, i) => `coarse${i}`);

async function makeCifar100(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'train.bin'), cifar100File([[0, 4], [0, 30], [1, 55], [19, 99], [1, 55]], 0));
  await writeFile(path.join(dir, 'test.bin'), cifar100File([[0, 4], [19, 99]], 50));
  await writeFile(path.join(dir, 'fine_label_names.txt'), FINE.join('\n') + '\n');
  await writeFile(path.join(dir, 'coarse_label_names.txt'), COARSE.join('\n') + '\n');
}

function byId(ds: Dataset, id: string): Sample {
  const s = ds.samples.find((x) => x.id === id);
  assert.ok(s, `sample ${id} missing`);
  return s;
}

describe('CIFAR-10 binary', () => {
  it('reads labels, names, splits and pixels (planar → interleaved)', async () => {
    const dir = path.join(tmp, 'c10', 'cifar-10-batches-bin');
    await makeCifar10(dir);
    assert.equal(await isCifarDir(dir), true);
    const ds = await loadCifarDataset(dir);
    assert.equal(ds.root, dir);
    assert.deepEqual(ds.labels, CIFAR10_NAMES);
    assert.equal(ds.samples.length, 16);
    assert.deepEqual(ds.skipped, []);

    // Labels follow the label byte.
    assert.equal(byId(ds, 'cifar10:data_batch_1.bin#3').label, 3);
    assert.equal(byId(ds, 'cifar10:data_batch_2.bin#0').label, 6);
    assert.equal(byId(ds, 'cifar10:test_batch.bin#1').label, 5);

    // test_batch.bin is the test split; training files go to train/val only, by hash of the id.
    for (const s of ds.samples) {
      if (s.id.startsWith('cifar10:test_batch.bin#')) assert.equal(s.split, 'test');
      else assert.equal(s.split, assignSplit(s.id, 10, 0));
    }
    assert.equal(ds.samples.filter((s) => s.split === 'test').length, 4);

    // Pixels: 32×32×3, interleaved.
    const s = byId(ds, 'cifar10:data_batch_2.bin#1'); // seed 101
    assert.equal(s.kind, 'raw');
    assert.deepEqual(s.raw, { width: 32, height: 32, channels: 3 });
    const px = await s.load();
    assert.equal(px.length, 3072);
    for (const p of [0, 1, 33, 1023]) {
      assert.deepEqual([...px.subarray(3 * p, 3 * p + 3)], [(p + 101) % 256, (3 * p + 1) % 256, 255 - (p % 256)], `pixel ${p}`);
    }
  });

  it('without a test file, the training files also give the test split', async () => {
    const dir = path.join(tmp, 'c10-notest');
    await makeCifar10(dir, { test: false });
    const ds = await loadCifarDataset(dir, { valPercent: 20, testPercent: 30 });
    for (const s of ds.samples) assert.equal(s.split, assignSplit(s.id, 20, 30));
  });

  it('falls back to index names without batches.meta.txt', async () => {
    const dir = path.join(tmp, 'c10-nometa');
    await makeCifar10(dir, { meta: false });
    const ds = await loadCifarDataset(dir);
    assert.deepEqual(ds.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('honours classes and limitPerClass', async () => {
    const dir = path.join(tmp, 'c10-sel');
    await makeCifar10(dir);
    const ds = await loadCifarDataset(dir, { classes: ['dog', 'cat'] });
    assert.deepEqual(ds.labels, ['dog', 'cat']);
    // dog: batch_1#5, batch_2#5, test#1; cat: batch_1#3, batch_2#4, test#0
    assert.equal(ds.samples.filter((s) => s.label === 0).length, 3);
    assert.equal(ds.samples.filter((s) => s.label === 1).length, 3);
    assert.equal(byId(ds, 'cifar10:test_batch.bin#1').label, 0);
    const lim = await loadCifarDataset(dir, { classes: ['dog', 'cat'], limitPerClass: 2 });
    assert.equal(lim.samples.length, 4);
    await assert.rejects(loadCifarDataset(dir, { classes: ['unicorn'] }), /unknown class 'unicorn'.*known: airplane/);
  });

  it('a truncated file is skipped, and an error in strict mode or when nothing is left', async () => {
    const dir = path.join(tmp, 'c10-trunc');
    await makeCifar10(dir);
    const bad = Buffer.concat([cifar10File([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]), Buffer.from([7])]);
    assert.equal(bad.length, 30731);
    await writeFile(path.join(dir, 'data_batch_1.bin'), bad);
    const ds = await loadCifarDataset(dir);
    assert.deepEqual(ds.skipped, [{ file: 'data_batch_1.bin', reason: 'truncated: 30731 bytes is not a multiple of 3073' }]);
    assert.equal(ds.samples.length, 10);
    await assert.rejects(loadCifarDataset(dir, { strict: true }), (e: Error) => {
      assert.match(e.message, /data_batch_1\.bin: truncated: 30731 bytes is not a multiple of 3073/);
      assert.match(e.message, /strict/);
      return true;
    });

    const only = path.join(tmp, 'c10-trunc-only');
    await mkdir(only);
    await writeFile(path.join(only, 'test_batch.bin'), bad);
    await assert.rejects(loadCifarDataset(only), /test_batch\.bin: truncated: 30731 bytes is not a multiple of 3073/);
  });

  it('wrong-kind files are rejected with the reason', async () => {
    const dir = path.join(tmp, 'c10-kind');
    await mkdir(dir);
    // CIFAR-100 records under a CIFAR-10 name.
    await writeFile(path.join(dir, 'data_batch_1.bin'), cifar100File([[0, 1], [2, 3], [4, 5]]));
    // A label byte out of range.
    await writeFile(path.join(dir, 'test_batch.bin'), cifar10File([1, 57, 2]));
    await assert.rejects(loadCifarDataset(dir), (e: Error) => {
      assert.match(e.message, /data_batch_1\.bin: not a CIFAR-10 binary file: 9222 bytes is a multiple of 3074/);
      assert.match(e.message, /test_batch\.bin: not a CIFAR-10 binary file: label 57 of record 1 is out of range 0-9/);
      return true;
    });
  });

  it('an empty file and too few names are errors', async () => {
    const dir = path.join(tmp, 'c10-empty');
    await mkdir(dir);
    await writeFile(path.join(dir, 'test_batch.bin'), Buffer.alloc(0));
    await assert.rejects(loadCifarDataset(dir), /test_batch\.bin: empty file/);
    const few = path.join(tmp, 'c10-few');
    await makeCifar10(few);
    await writeFile(path.join(few, 'batches.meta.txt'), 'a\nb\nc\n');
    await assert.rejects(loadCifarDataset(few), /label 9 found but .*batches\.meta\.txt gives only 3 names/);
  });
});

describe('CIFAR-100 binary', () => {
  it('fine labels by default, coarse on request, names from the meta files', async () => {
    const dir = path.join(tmp, 'c100', 'cifar-100-binary');
    await makeCifar100(dir);
    assert.equal(await isCifarDir(dir), true);
    const fine = await loadCifarDataset(dir);
    assert.deepEqual(fine.labels, FINE);
    assert.equal(fine.samples.length, 7);
    assert.equal(byId(fine, 'cifar100:train.bin#1').label, 30);
    assert.equal(byId(fine, 'cifar100:train.bin#3').label, 99);
    assert.equal(byId(fine, 'cifar100:test.bin#1').label, 99);
    for (const s of fine.samples) {
      if (s.id.startsWith('cifar100:test.bin#')) assert.equal(s.split, 'test');
      else assert.equal(s.split, assignSplit(s.id, 10, 0));
    }
    const px = await byId(fine, 'cifar100:test.bin#1').load(); // seed 51
    assert.deepEqual([...px.subarray(3 * 40, 3 * 40 + 3)], [(40 + 51) % 256, (3 * 40 + 1) % 256, 255 - 40]);

    const coarse = await loadCifarDataset(dir, { labels: 'coarse' });
    assert.deepEqual(coarse.labels, COARSE);
    assert.equal(byId(coarse, 'cifar100:train.bin#2').label, 1);
    assert.equal(byId(coarse, 'cifar100:train.bin#3').label, 19);
    const sub = await loadCifarDataset(dir, { labels: 'coarse', classes: ['coarse19', 'coarse0'] });
    assert.deepEqual(sub.labels, ['coarse19', 'coarse0']);
    assert.equal(sub.samples.length, 5);
  });

  it('validates record size and label ranges', async () => {
    const dir = path.join(tmp, 'c100-bad', 'cifar-100-binary');
    await makeCifar100(dir);
    await writeFile(path.join(dir, 'test.bin'), cifar100File([[20, 4]]));
    const ds = await loadCifarDataset(dir);
    assert.deepEqual(ds.skipped, [{ file: 'test.bin', reason: 'not a CIFAR-100 binary file: coarse label 20 of record 0 is out of range 0-19' }]);
    await writeFile(path.join(dir, 'train.bin'), cifar10File([1, 2]));
    await assert.rejects(loadCifarDataset(dir), /train\.bin: not a CIFAR-100 binary file: 6146 bytes is a multiple of 3073/);
    await writeFile(path.join(dir, 'train.bin'), Buffer.alloc(3074 * 2 + 5));
    await assert.rejects(loadCifarDataset(dir), /train\.bin: truncated: 6153 bytes is not a multiple of 3074/);
  });

  it('CIFAR-10 has no coarse labels', async () => {
    const dir = path.join(tmp, 'c10-coarse');
    await makeCifar10(dir);
    await assert.rejects(loadCifarDataset(dir, { labels: 'coarse' }), /CIFAR-10 has no coarse labels/);
  });
});

describe('loadDataset dispatch', () => {
  it('detects CIFAR folders, their parent folder, and a CIFAR file path', async () => {
    const parent = path.join(tmp, 'dispatch10');
    const dir = path.join(parent, 'cifar-10-batches-bin');
    await makeCifar10(dir);
    for (const p of [dir, parent, path.join(dir, 'data_batch_2.bin')]) {
      const ds = await loadDataset(p);
      assert.equal(ds.root, dir, p);
      assert.deepEqual(ds.labels, CIFAR10_NAMES);
      assert.equal(ds.samples[0]!.id.startsWith('cifar10:'), true);
    }
    const p100 = path.join(tmp, 'dispatch100');
    await makeCifar100(path.join(p100, 'cifar-100-binary'));
    const ds = await loadDataset(p100, { labels: 'coarse' });
    assert.deepEqual(ds.labels, COARSE);
    const f = await loadDataset(path.join(p100, 'cifar-100-binary', 'train.bin'));
    assert.deepEqual(f.labels, FINE);
  });

  it('train.bin alone is not taken for CIFAR-100 without meta files or a cifar-100 folder name', async () => {
    const dir = path.join(tmp, 'notcifar');
    await mkdir(path.join(dir, 'a'), { recursive: true });
    await writeFile(path.join(dir, 'train.bin'), Buffer.alloc(3074));
    assert.equal(await isCifarDir(dir), false);
  });

  it('planarToInterleaved', () => {
    const planar = Buffer.from([1, 2, 10, 20, 100, 200]);
    assert.deepEqual([...planarToInterleaved(planar, 2)], [1, 10, 100, 2, 20, 200]);
  });
});
