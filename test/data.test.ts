import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import {
  FASHION_MNIST_LABELS,
  assignSplit,
  decodeToTensorData,
  loadDataset,
  loadIdxDataset,
  loadImageFolder,
  preprocessKey,
  splitPercentage,
  writeMnistImageFolder,
  type Dataset,
  type Preprocess,
  type Sample,
} from '../src/data/index.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'graft-data-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

type RGB = [number, number, number];

function solid(width: number, height: number, [r, g, b]: RGB, alpha = 1): sharp.Sharp {
  return sharp({ create: { width, height, channels: alpha === 1 ? 3 : 4, background: { r, g, b, alpha } } });
}

/** Horizontal stripes of colours with the given widths (an image `sum(widths)` wide). */
function stripes(height: number, parts: { w: number; c: RGB }[]): sharp.Sharp {
  const width = parts.reduce((a, p) => a + p.w, 0);
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    let x = 0;
    for (const p of parts) {
      for (let i = 0; i < p.w; i++, x++) px.set(p.c, (y * width + x) * 3);
    }
  }
  return sharp(px, { raw: { width, height, channels: 3 } });
}

/** A bottom-up BMP: 24-bit BI_RGB, 32-bit BI_RGB, or an RLE8 header (unsupported here). */
function bmp(width: number, height: number, [r, g, b]: RGB, bpp: 24 | 32 = 24, compression = 0): Buffer {
  const rowSize = Math.ceil((width * bpp) / 32) * 4;
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + rowSize * height, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(compression === 1 ? 8 : bpp, 28);
  header.writeUInt32LE(compression, 30);
  const pixels = Buffer.alloc(rowSize * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels.set([b, g, r], y * rowSize + (x * bpp) / 8);
  }
  return Buffer.concat([header, pixels]);
}

function fakeSample(id: string, bytes: Buffer): Sample {
  return { id, label: 0, split: 'train', kind: 'encoded', load: async () => bytes };
}

const UNIT: Preprocess = { size: [8, 8], resize: 'squash', mean: [0, 0, 0], std: [1, 1, 1] };

/** Mean colour of a decoded H*W*3 tensor. */
function meanColour(t: Float32Array): RGB {
  const s = [0, 0, 0];
  for (let i = 0; i < t.length; i++) s[i % 3]! += t[i]!;
  const n = t.length / 3;
  return [s[0]! / n, s[1]! / n, s[2]! / n];
}

function pixel(t: Float32Array, w: number, x: number, y: number): RGB {
  const o = (y * w + x) * 3;
  return [t[o]!, t[o + 1]!, t[o + 2]!];
}

function assertColour(actual: RGB, expected: RGB, tol: number, what: string): void {
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(actual[c]! - expected[c]!) <= tol, `${what}: got ${actual.map((v) => v.toFixed(3))}, want ${expected}`);
  }
}

function byId(ds: Dataset, id: string): Sample {
  const s = ds.samples.find((x) => x.id === id);
  assert.ok(s, `sample ${id} missing; have ${ds.samples.map((x) => x.id).join(', ')}`);
  return s;
}

describe('ImageFolder with bad and unusual files', () => {
  let root: string;
  let ds: Dataset;
  const UNICODE = 'my cät 猫.png';

  before(async () => {
    root = path.join(tmp, 'mixed');
    const cat = path.join(root, 'cat');
    const fox = path.join(root, 'red fox');
    const outside = path.join(tmp, 'outside');
    await Promise.all([cat, fox, outside, path.join(cat, 'sub'), path.join(root, '.git')].map((d) => mkdir(d, { recursive: true })));
    const noise = await sharp({ create: { width: 120, height: 120, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .jpeg()
      .toBuffer();
    await Promise.all([
      solid(16, 12, [255, 0, 0]).png().toFile(path.join(cat, 'good.png')),
      solid(16, 12, [0, 255, 0]).jpeg({ quality: 95 }).toFile(path.join(cat, 'good.jpg')),
      solid(16, 12, [0, 0, 255]).webp({ lossless: true }).toFile(path.join(cat, 'good.webp')),
      solid(16, 12, [255, 255, 0]).gif().toFile(path.join(cat, 'anim.GIF')),
      solid(16, 12, [0, 255, 255]).tiff().toFile(path.join(cat, 'scan.tiff')),
      solid(16, 12, [200, 100, 50]).toColourspace('b-w').png().toFile(path.join(cat, 'gray.png')),
      solid(16, 12, [0, 0, 0], 0).png().toFile(path.join(cat, 'rgba.png')),
      solid(16, 12, [200, 100, 50]).toColourspace('rgb16').png().toFile(path.join(cat, 'deep16.png')),
      solid(16, 12, [200, 100, 50]).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(path.join(cat, 'cmyk.jpg')),
      writeFile(path.join(cat, 'truncated.jpg'), noise.subarray(0, noise.length >> 1)),
      writeFile(path.join(cat, 'empty.jpg'), Buffer.alloc(0)),
      writeFile(path.join(cat, 'notimage.jpg'), 'just some text, not a picture\n'),
      solid(1, 1, [9, 9, 9]).png().toFile(path.join(cat, 'tiny.png')),
      solid(4, 4, [9, 9, 9]).png().toFile(path.join(cat, '.hidden.png')),
      solid(4, 4, [9, 9, 9]).png().toFile(path.join(root, '.git', 'x.png')),
      solid(10, 10, [0, 128, 255]).png().toFile(path.join(cat, UNICODE)),
      writeFile(path.join(cat, 'notes.txt'), 'ignored'),
      solid(10, 10, [1, 2, 3]).png().toFile(path.join(cat, 'png-as.jpg')),
      solid(10, 10, [1, 2, 3]).png().toFile(path.join(cat, 'sub', 'nested.png')),
      solid(10, 10, [1, 2, 3]).png().toFile(path.join(outside, 'x.png')),
      writeFile(path.join(cat, 'image.bmp'), bmp(5, 3, [10, 200, 30])),
      writeFile(path.join(cat, 'rle.bmp'), bmp(5, 3, [10, 200, 30], 24, 1)),
      solid(10, 10, [50, 60, 70]).png().toFile(path.join(fox, 'a.PNG')),
      writeFile(path.join(fox, 'b.bmp'), bmp(6, 4, [250, 5, 128], 32)),
    ]);
    await symlink(path.join(outside, 'x.png'), path.join(cat, 'escape.png'));
    await symlink(path.join(cat, 'good.png'), path.join(fox, 'inside-link.png'));
    ds = await loadImageFolder(root);
  });

  it('finds classes (sorted, odd names) and usable files', () => {
    assert.deepEqual(ds.labels, ['cat', 'red fox']);
    assert.equal(ds.root, path.resolve(root));
    const ids = ds.samples.map((s) => s.id).sort();
    assert.deepEqual(ids, [
      'cat/anim.GIF',
      'cat/cmyk.jpg',
      'cat/deep16.png',
      'cat/good.jpg',
      'cat/good.png',
      'cat/good.webp',
      'cat/gray.png',
      'cat/image.bmp',
      `cat/${UNICODE}`,
      'cat/png-as.jpg',
      'cat/rgba.png',
      'cat/scan.tiff',
      'cat/sub/nested.png',
      'cat/truncated.jpg', // header is intact: caught when decoding
      'red fox/a.PNG',
      'red fox/b.bmp',
      'red fox/inside-link.png',
    ]);
    for (const s of ds.samples) {
      assert.equal(s.label, s.id.startsWith('cat/') ? 0 : 1);
      assert.equal(s.kind, 'encoded');
      assert.ok(['train', 'val', 'test'].includes(s.split));
    }
  });

  it('reports bad files with reasons and ignores hidden and non-image files silently', () => {
    const reasons = Object.fromEntries(ds.skipped.map((s) => [s.file, s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), ['cat/empty.jpg', 'cat/escape.png', 'cat/notimage.jpg', 'cat/rle.bmp', 'cat/tiny.png']);
    assert.match(reasons['cat/empty.jpg']!, /empty file/);
    assert.equal(reasons['cat/escape.png'], 'symlink leads outside the root');
    assert.match(reasons['cat/notimage.jpg']!, /^not an image/);
    assert.match(reasons['cat/rle.bmp']!, /^unsupported format bmp/);
    assert.match(reasons['cat/tiny.png']!, /^image too small \(1×1\)/);
  });

  it('strict mode turns skipped files into an error', async () => {
    await assert.rejects(loadImageFolder(root, { strict: true }), /5 bad files.*\n.*cat\/empty\.jpg/);
  });

  it('loads bytes lazily from the file', async () => {
    const s = byId(ds, 'cat/good.png');
    assert.deepEqual(await s.load(), await readFile(path.join(root, 'cat', 'good.png')));
  });

  it('decodes every format to 8×8 RGB in [0,1] with the right colours', async () => {
    const expect: Record<string, RGB> = {
      'cat/good.png': [1, 0, 0],
      'cat/good.jpg': [0, 1, 0],
      'cat/good.webp': [0, 0, 1],
      'cat/anim.GIF': [1, 1, 0],
      'cat/scan.tiff': [0, 1, 1],
      'cat/rgba.png': [1, 1, 1], // transparent → flattened onto white
      'cat/deep16.png': [200 / 255, 100 / 255, 50 / 255],
      'cat/image.bmp': [10 / 255, 200 / 255, 30 / 255],
      'red fox/b.bmp': [250 / 255, 5 / 255, 128 / 255],
      [`cat/${UNICODE}`]: [0, 128 / 255, 1],
      'cat/png-as.jpg': [1 / 255, 2 / 255, 3 / 255],
    };
    for (const [id, colour] of Object.entries(expect)) {
      const t = await decodeToTensorData(byId(ds, id), UNIT);
      assert.equal(t.length, 8 * 8 * 3);
      assertColour(meanColour(t), colour, 0.02, id);
    }
    // Grayscale → three equal channels; CMYK → close to the original colour.
    const gray = await decodeToTensorData(byId(ds, 'cat/gray.png'), UNIT);
    const [r, g, b] = pixel(gray, 8, 3, 3);
    assert.ok(r === g && g === b && r > 0.3 && r < 0.6, `gray ${r},${g},${b}`);
    assertColour(meanColour(await decodeToTensorData(byId(ds, 'cat/cmyk.jpg'), UNIT)), [200 / 255, 100 / 255, 50 / 255], 0.08, 'cmyk');
    for (const s of ds.samples.filter((x) => x.id !== 'cat/truncated.jpg')) {
      const t = await decodeToTensorData(s, UNIT);
      assert.ok(t.every((v) => v >= 0 && v <= 1), s.id);
    }
  });

  it('a truncated JPEG fails to decode with an error naming the file', async () => {
    await assert.rejects(decodeToTensorData(byId(ds, 'cat/truncated.jpg'), UNIT), /^Error: cat\/truncated\.jpg: cannot decode image \(.*premature end/i);
    const gone = { ...fakeSample('cat/gone.png', Buffer.alloc(0)), load: () => readFile(path.join(root, 'nope.png')) };
    await assert.rejects(decodeToTensorData(gone, UNIT), /cat\/gone\.png: cannot read/);
  });
});

describe('decode geometry and normalisation', () => {
  // 40×20: red 10 | green 20 | blue 10.
  const striped = () => stripes(20, [{ w: 10, c: [255, 0, 0] }, { w: 20, c: [0, 255, 0] }, { w: 10, c: [0, 0, 255] }]).png().toBuffer();

  it('squash keeps the whole image; center-crop keeps the centre', async () => {
    const s = fakeSample('striped.png', await striped());
    const squash = await decodeToTensorData(s, UNIT);
    assert.equal(squash.length, 192);
    assertColour(pixel(squash, 8, 0, 4), [1, 0, 0], 0.1, 'squash left');
    assertColour(pixel(squash, 8, 7, 4), [0, 0, 1], 0.1, 'squash right');
    const crop = await decodeToTensorData(s, { ...UNIT, resize: 'center-crop', cropFraction: 1 });
    assert.equal(crop.length, 192);
    for (const x of [0, 7]) {
      const [r, g, b] = pixel(crop, 8, x, 4);
      assert.ok(g > 0.5 && r < 0.5 && b < 0.5, `crop column ${x}: ${r},${g},${b}`);
    }
    // Default cropFraction 0.875 and a non-square input size.
    const rect = await decodeToTensorData(s, { ...UNIT, size: [6, 10], resize: 'center-crop' });
    assert.equal(rect.length, 6 * 10 * 3);
    assertColour(pixel(rect, 10, 5, 3), [0, 1, 0], 0.05, 'crop centre');
  });

  it('applies (px/255 - mean)/std per channel', async () => {
    const s = fakeSample('solid.png', await solid(5, 5, [124, 116, 104]).png().toBuffer());
    const mean: RGB = [0.485, 0.456, 0.406];
    const std: RGB = [0.229, 0.224, 0.225];
    const t = await decodeToTensorData(s, { ...UNIT, mean, std });
    const want = [124, 116, 104].map((v, c) => (v / 255 - mean[c]!) / std[c]!) as RGB;
    assertColour(meanColour(t), want, 1e-4, 'normalised');
  });

  it('honours EXIF orientation', async () => {
    // 20×10 with red left half, blue right half, tagged "rotate 90° clockwise".
    const jpg = await stripes(10, [{ w: 10, c: [255, 0, 0] }, { w: 10, c: [0, 0, 255] }]).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const t = await decodeToTensorData(fakeSample('rotated.jpg', jpg), UNIT);
    assertColour(pixel(t, 8, 4, 0), [1, 0, 0], 0.15, 'top after rotation');
    assertColour(pixel(t, 8, 4, 7), [0, 0, 1], 0.15, 'bottom after rotation');
  });

  it('preprocessKey is stable and fills defaults', () => {
    const a: Preprocess = { size: [224, 224], resize: 'center-crop', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
    assert.equal(preprocessKey(a), preprocessKey({ std: [0.5, 0.5, 0.5], mean: [0.5, 0.5, 0.5], cropFraction: 0.875, resize: 'center-crop', size: [224, 224] }));
    assert.notEqual(preprocessKey(a), preprocessKey({ ...a, cropFraction: 1 }));
    assert.equal(preprocessKey(UNIT), preprocessKey({ ...UNIT, cropFraction: 0.5 }));
    assert.deepEqual(JSON.parse(preprocessKey(a)).cropFraction, 0.875);
  });
});

describe('ImageFolder layouts and options', () => {
  let png: Buffer;
  const put = async (root: string, files: string[]) => {
    for (const f of files) {
      await mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await writeFile(path.join(root, f), png);
    }
  };
  const range = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));
  before(async () => {
    png = await solid(4, 4, [10, 20, 30]).png().toBuffer();
  });

  it('uses train/valid/test folders as splits (classes = union)', async () => {
    const root = path.join(tmp, 'presplit');
    await put(root, ['train/a/1.png', 'train/a/2.png', 'train/b/1.png', 'test/a/t.png', 'test/c/t.png', 'valid/b/v.png']);
    const ds = await loadImageFolder(root);
    assert.deepEqual(ds.labels, ['a', 'b', 'c']);
    const splits = Object.fromEntries(ds.samples.map((s) => [s.id, s.split]));
    assert.deepEqual(splits, {
      'train/a/1.png': 'train',
      'train/a/2.png': 'train',
      'train/b/1.png': 'train',
      'test/a/t.png': 'test',
      'valid/b/v.png': 'val',
      'test/c/t.png': 'test',
    });
    assert.equal(ds.samples.find((s) => s.id === 'test/c/t.png')!.label, 2);
  });

  it('carves val (not test) out of train/ when only train/ and test/ exist', async () => {
    const root = path.join(tmp, 'presplit2');
    await put(root, [...range(60, (i) => `train/${i % 2 ? 'a' : 'b'}/${i}.png`), 'test/a/t.png', 'test/b/t.png']);
    const ds = await loadImageFolder(root, { valPercent: 30 });
    const fromTrain = ds.samples.filter((s) => s.id.startsWith('train/'));
    assert.ok(fromTrain.every((s) => s.split !== 'test'));
    assert.ok(fromTrain.some((s) => s.split === 'val') && fromTrain.some((s) => s.split === 'train'));
    assert.deepEqual(ds.samples.filter((s) => s.split === 'test').map((s) => s.id).sort(), ['test/a/t.png', 'test/b/t.png']);
  });

  it('class subsets, unknown classes, limits', async () => {
    const root = path.join(tmp, 'three');
    await put(root, range(15, (i) => `${'abc'[i % 3]}/${i}.png`));
    const sub = await loadImageFolder(root, { classes: ['c', 'a'] });
    assert.deepEqual(sub.labels, ['c', 'a']);
    assert.equal(sub.samples.length, 10);
    for (const s of sub.samples) assert.equal(s.label, s.id.startsWith('c/') ? 0 : 1);
    await assert.rejects(loadImageFolder(root, { classes: ['a', 'zebra'] }), /unknown class 'zebra'.*\(known: a, b, c\)/);
    await assert.rejects(loadImageFolder(root, { classes: ['a'] }), new RegExp(`need at least 2 classes, found 1 \\(a\\) in ${root}`));
    const lim = await loadImageFolder(root, { limitPerClass: 2 });
    assert.deepEqual([0, 1, 2].map((l) => lim.samples.filter((s) => s.label === l).length), [2, 2, 2]);
    const lim2 = await loadImageFolder(root, { limitPerClass: 2 });
    assert.deepEqual(lim2.samples.map((s) => s.id), lim.samples.map((s) => s.id));
  });

  it('clear errors for missing root, no classes, one class, empty class', async () => {
    const missing = path.join(tmp, 'does-not-exist');
    await assert.rejects(loadImageFolder(missing), { message: `${missing}: no such directory` });

    const flat = path.join(tmp, 'flat');
    await put(flat, ['x.png']);
    await assert.rejects(loadImageFolder(flat), /no class folders/);

    const one = path.join(tmp, 'one');
    await put(one, ['only/1.png', 'only/2.png']);
    await assert.rejects(loadImageFolder(one), { message: `need at least 2 classes, found 1 (only) in ${one}` });

    const withEmpty = path.join(tmp, 'with-empty');
    await put(withEmpty, ['a/1.png', 'b/1.png']);
    await mkdir(path.join(withEmpty, 'c'));
    await writeFile(path.join(withEmpty, 'c', 'bad.jpg'), '');
    await assert.rejects(loadImageFolder(withEmpty), /empty class folder: 'c'/);
    const ok = await loadImageFolder(withEmpty, { classes: ['a', 'b'] });
    assert.equal(ok.samples.length, 2);
    assert.equal(ok.skipped.length, 0);
  });

  it('unlabelled: a flat folder is one class named after it; one class folder is enough', async () => {
    const flat = path.join(tmp, 'flat-unlabelled');
    await put(flat, ['x.png', 'y.png', 'notes.txt']);
    const ds = await loadImageFolder(flat, { unlabelled: true });
    assert.deepEqual(ds.labels, ['flat-unlabelled']);
    assert.deepEqual(ds.samples.map((s) => s.id).sort(), ['x.png', 'y.png']);
    assert.deepEqual(ds.skipped, []);
    const one = path.join(tmp, 'one-unlabelled');
    await put(one, ['only/1.png', 'only/2.png', 'stray.png']);
    const o = await loadImageFolder(one, { unlabelled: true });
    assert.deepEqual(o.labels, ['only']);
    assert.equal(o.samples.length, 2);
    assert.deepEqual(o.skipped, [{ file: 'stray.png', reason: 'not inside a class folder' }]);
  });

  it('split assignment is stable when files are added', async () => {
    const root = path.join(tmp, 'grow');
    await put(root, range(40, (i) => `${i % 2 ? 'x' : 'y'}/${i}.png`));
    const before = await loadImageFolder(root);
    await put(root, range(40, (i) => `${i % 2 ? 'x' : 'y'}/new-${i}.png`));
    const after = await loadImageFolder(root);
    assert.equal(after.samples.length, 80);
    for (const s of before.samples) assert.equal(byId(after, s.id).split, s.split, s.id);
  });
});

describe('split rule', () => {
  it('matches retrain.py values', () => {
    // Reference values computed with retrain.py's formula in Python.
    assert.ok(Math.abs(splitPercentage('cat/img1.jpg') - 1.118288197504641) < 1e-9);
    assert.ok(Math.abs(splitPercentage('a/b/c d 猫.png') - 67.5379720891861) < 1e-9);
    assert.ok(Math.abs(splitPercentage('idx:train-images-idx3-ubyte#2') - 99.58899467877293) < 1e-9);
    assert.ok(Math.abs(splitPercentage('dog/x_nohash_3.wav') - 17.822262777553966) < 1e-9);
    assert.equal(splitPercentage('dog/x_nohash_3.wav'), splitPercentage('dog/x'));
    assert.equal(assignSplit('cat/img1.jpg', 10, 10), 'test');
    assert.equal(assignSplit('dog/x_nohash_1.wav', 10, 10), 'val');
    assert.equal(assignSplit('a/b/c d 猫.png', 10, 10), 'train');
  });

  it('gives roughly the requested proportions in every class', () => {
    for (const cls of ['a', 'b']) {
      const counts = { train: 0, val: 0, test: 0 };
      for (let i = 0; i < 500; i++) counts[assignSplit(`${cls}/img${i}.jpg`, 10, 20)]++;
      assert.ok(counts.val >= 30 && counts.val <= 70, `${cls} val ${counts.val}`);
      assert.ok(counts.test >= 75 && counts.test <= 125, `${cls} test ${counts.test}`);
      assert.equal(counts.train + counts.val + counts.test, 500);
    }
  });

  it('rejects impossible percentages', async () => {
    await assert.rejects(loadImageFolder(tmp, { valPercent: 60, testPercent: 50 }), /must be at most 100/);
    await assert.rejects(loadImageFolder(tmp, { valPercent: -1 }), /valPercent must be between 0 and 100/);
  });
});

describe('IDX datasets', () => {
  function idx(magicDims: 1 | 3, dims: number[], data: Uint8Array): Buffer {
    const h = Buffer.alloc(4 + 4 * dims.length);
    h.writeUInt32BE(0x800 + magicDims, 0);
    dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([h, data]);
  }
  /** n images 28×28 where image i is filled with value i; label i % 10. */
  async function writeSet(dir: string, prefix: string, n: number, gz: boolean): Promise<void> {
    const px = new Uint8Array(n * 28 * 28);
    for (let i = 0; i < n; i++) px.fill(i, i * 784, (i + 1) * 784);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    const enc = (b: Buffer) => (gz ? gzipSync(b) : b);
    const ext = gz ? '.gz' : '';
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), enc(idx(3, [n, 28, 28], px)));
    await writeFile(path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`), enc(idx(1, [n], labels)));
  }

  it('round-trips gzipped train and plain t10k files, with Fashion names', async () => {
    const dir = path.join(tmp, 'fashion-small');
    await writeSet(dir, 'train', 50, true);
    await writeSet(dir, 't10k', 10, false);
    const ds = await loadDataset(dir, { valPercent: 20 });
    assert.deepEqual(ds.labels, FASHION_MNIST_LABELS);
    assert.equal(ds.samples.length, 60);
    const test = ds.samples.filter((s) => s.split === 'test');
    assert.equal(test.length, 10);
    assert.ok(test.every((s) => s.id.startsWith('idx:t10k-images-idx3-ubyte#')));
    assert.ok(ds.samples.some((s) => s.split === 'val'));
    for (const s of ds.samples) {
      const i = Number(s.id.split('#')[1]);
      assert.equal(s.kind, 'raw');
      assert.deepEqual(s.raw, { width: 28, height: 28, channels: 1 });
      assert.equal(s.label, i % 10);
      if (s.id.startsWith('idx:train')) assert.equal(s.split, assignSplit(s.id, 20, 0));
      const bytes = await s.load();
      assert.equal(bytes.length, 784);
      assert.ok(bytes.every((v) => v === i), s.id);
    }
    const s7 = ds.samples.find((s) => s.id === 'idx:train-images-idx3-ubyte#7')!;
    const t = await decodeToTensorData(s7, { ...UNIT, size: [14, 14] });
    assert.equal(t.length, 14 * 14 * 3);
    assert.ok(t.every((v) => Math.abs(v - 7 / 255) < 1e-6));

    const sub = await loadIdxDataset(dir, { classes: ['Bag', 'Coat'] });
    assert.deepEqual(sub.labels, ['Bag', 'Coat']);
    assert.equal(sub.samples.length, 12);
    assert.ok(sub.samples.every((s) => s.label === (Number(s.id.split('#')[1]) % 10 === 8 ? 0 : 1)));
  });

  it('digit names, an IDX file path, no t10k → test carved from train', async () => {
    const dir = path.join(tmp, 'digits');
    await writeSet(dir, 'train', 200, false);
    const ds = await loadDataset(path.join(dir, 'train-images-idx3-ubyte'), { limitPerClass: 5 });
    assert.deepEqual(ds.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(ds.samples.length, 50);
    const all = await loadIdxDataset(dir);
    assert.ok(all.samples.some((s) => s.split === 'test'));
  });

  it('bad magic number and truncated data give errors naming the file', async () => {
    const dir = path.join(tmp, 'bad-idx');
    await writeSet(dir, 'train', 5, false);
    const images = path.join(dir, 'train-images-idx3-ubyte');
    const good = await readFile(images);
    const bad = Buffer.from(good);
    bad.writeUInt32BE(0x804, 0);
    await writeFile(images, bad);
    await assert.rejects(loadIdxDataset(dir), { message: `${images}: bad magic number 0x00000804, expected 0x00000803 (IDX image file)` });
    await writeFile(images, good.subarray(0, good.length - 100));
    await assert.rejects(loadIdxDataset(dir), new RegExp(`^Error: ${images}: .*truncated`));
    await writeFile(images, gzipSync(good).subarray(0, 40));
    await writeFile(images + '.gz', Buffer.alloc(0)); // plain file still wins
    await assert.rejects(loadIdxDataset(dir), new RegExp(`^Error: ${images}: corrupt gzip`));
  });
});

describe('MNIST image folder (graft demo)', () => {
  it('writes deterministic 28×28 grayscale PNGs atomically', async () => {
    const dir = path.join(tmp, 'mnist', 'digits');
    assert.deepEqual(await writeMnistImageFolder(dir, 3), { files: 30 });
    const ds = await loadImageFolder(dir);
    assert.deepEqual(ds.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(ds.samples.length, 30);
    assert.equal(ds.skipped.length, 0);
    const meta = await sharp(path.join(dir, '3', '0.png')).metadata();
    assert.equal(meta.width, 28);
    assert.equal(meta.height, 28);
    assert.equal(meta.channels, 1);
    const { data } = await sharp(path.join(dir, '3', '0.png')).raw().toBuffer({ resolveWithObject: true });
    assert.ok(Math.max(...data) > 200 && Math.min(...data) === 0);

    await assert.rejects(writeMnistImageFolder(dir, 3), /already exists/);
    const again = path.join(tmp, 'mnist', 'again');
    await writeMnistImageFolder(again, 1);
    assert.deepEqual(await readFile(path.join(again, '3', '0.png')), await readFile(path.join(dir, '3', '0.png')));
    await assert.rejects(writeMnistImageFolder(path.join(tmp, 'mnist', 'x'), 100000), /perClass must be/);
  });
});
