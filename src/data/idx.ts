/**
 * MNIST-style IDX datasets (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
 * `t10k-…`). t10k is the test split; train is split into train/val by `assignSplit` on the id
 * (and also gives the test split when no t10k files exist).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { chooseClasses, limitPerClass, requireTwoClasses, sortSamples } from './select.js';
import { assignSplit, splitPercents } from './split.js';
import type { Dataset, LoadOptions, Sample, Split } from './types.js';

const gunzipAsync = promisify(gunzip);

export const FASHION_MNIST_LABELS = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** Matches `train-images-idx3-ubyte`, `t10k-labels.idx1-ubyte.gz`, … */
const IDX_NAME = /^(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$/i;

export function isIdxFileName(name: string): boolean {
  return IDX_NAME.test(name);
}

interface IdxFiles {
  images: string;
  labels: string;
}

/** The train and (optional) t10k file pairs in a directory; plain files win over .gz. */
export async function findIdxFiles(dir: string): Promise<{ train?: IdxFiles; test?: IdxFiles }> {
  const names = (await readdir(dir)).filter(isIdxFileName).sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
  const pick = (set: string, kind: string) =>
    names.find((n) => {
      const m = IDX_NAME.exec(n)!;
      return m[1]!.toLowerCase() === set && m[2]!.toLowerCase() === kind;
    });
  const pair = (set: string): IdxFiles | undefined => {
    const images = pick(set, 'images');
    const labels = pick(set, 'labels');
    if (!images && !labels) return undefined;
    if (!images || !labels) {
      throw new Error(`${dir}: found ${images ?? labels} but not its ${images ? 'labels' : 'images'} file`);
    }
    return { images: path.join(dir, images), labels: path.join(dir, labels) };
  };
  return { train: pair('train'), test: pair('t10k') };
}

export interface IdxArray {
  dims: number[];
  data: Buffer;
}

/** Read an unsigned-byte IDX file (gzip detected by content), checking magic number and length. */
export async function readIdx(file: string, expectedDims: 1 | 3): Promise<IdxArray> {
  let buf = await readFile(file);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = await gunzipAsync(buf);
    } catch (e) {
      throw new Error(`${file}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  const expectedMagic = 0x800 + expectedDims;
  const what = expectedDims === 3 ? 'IDX image file' : 'IDX label file';
  if (buf.length < 4) throw new Error(`${file}: too short to be an ${what} (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  if (magic !== expectedMagic) {
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
    throw new Error(`${file}: bad magic number ${hex(magic)}, expected ${hex(expectedMagic)} (${what})`);
  }
  const headerLen = 4 + 4 * expectedDims;
  if (buf.length < headerLen) throw new Error(`${file}: header cut short (${buf.length} bytes)`);
  const dims = Array.from({ length: expectedDims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const need = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerLen;
  if (have !== need) {
    throw new Error(
      `${file}: dimensions ${dims.join('×')} need ${need} data bytes but the file has ${have}${have < need ? ' (truncated?)' : ''}`,
    );
  }
  return { dims, data: buf.subarray(headerLen) };
}

/** Load an IDX dataset from `dir`. Label names: Fashion-MNIST's when the folder name contains 'fashion', else digits. */
export async function loadIdxDataset(dir: string, opts: LoadOptions & { labelNames?: string[] } = {}): Promise<Dataset> {
  const { valPercent, testPercent } = splitPercents(opts);
  const root = path.resolve(dir);
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw new Error(`${dir}: no such directory`);
  const files = await findIdxFiles(root);
  if (!files.train && !files.test) throw new Error(`${dir}: no IDX files (train-images-idx3-ubyte[.gz] …)`);

  const parts: { set: 'train' | 't10k'; files: IdxFiles }[] = [];
  if (files.train) parts.push({ set: 'train', files: files.train });
  if (files.test) parts.push({ set: 't10k', files: files.test });

  const raw: { id: string; label: number; split: Split; data: Buffer; offset: number; width: number; height: number }[] = [];
  let maxLabel = -1;
  for (const { set, files: f } of parts) {
    const [images, labels] = await Promise.all([readIdx(f.images, 3), readIdx(f.labels, 1)]);
    const [n, height, width] = images.dims as [number, number, number];
    if (labels.dims[0] !== n) {
      throw new Error(`${f.labels}: ${labels.dims[0]} labels but ${f.images} has ${n} images`);
    }
    const base = path.basename(f.images).replace(/\.gz$/i, '');
    const size = width * height;
    for (let i = 0; i < n; i++) {
      const id = `idx:${base}#${i}`;
      const label = labels.data[i]!;
      if (label > maxLabel) maxLabel = label;
      const split: Split =
        set === 't10k' ? 'test' : assignSplit(id, valPercent, files.test ? 0 : testPercent);
      raw.push({ id, label, split, data: images.data, offset: i * size, width, height });
    }
  }

  const fashion = path.basename(root).toLowerCase().includes('fashion');
  const names =
    opts.labelNames ?? (fashion ? FASHION_MNIST_LABELS : Array.from({ length: Math.max(10, maxLabel + 1) }, (_, i) => String(i)));
  if (maxLabel >= names.length) {
    throw new Error(`${dir}: label ${maxLabel} found but only ${names.length} label names (${names.join(', ')})`);
  }
  const labels = chooseClasses(names, opts, dir);
  if (!opts.unlabelled) requireTwoClasses(labels, dir);
  const remap = names.map((n) => labels.indexOf(n));

  const samples: Sample[] = [];
  for (const r of raw) {
    const label = remap[r.label]!;
    if (label < 0) continue;
    const { data, offset, width, height } = r;
    samples.push({
      id: r.id,
      label,
      split: r.split,
      kind: 'raw',
      raw: { width, height, channels: 1 },
      load: async () => data.subarray(offset, offset + width * height),
    });
  }
  return { root, labels, samples: sortSamples(limitPerClass(samples, opts.limitPerClass)), skipped: [] };
}
