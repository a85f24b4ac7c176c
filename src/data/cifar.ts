/**
 * CIFAR-10 / CIFAR-100 "binary version" datasets (the extracted `cifar-10-batches-bin` or
 * `cifar-100-binary` folder).
 *
 * CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, each a run of records of
 * 1 label byte + 3072 pixel bytes; label names in `batches.meta.txt` (one per line).
 * CIFAR-100: `train.bin` and `test.bin`, records of 1 coarse label byte + 1 fine label byte + 3072
 * pixel bytes; names in `coarse_label_names.txt` and `fine_label_names.txt`.
 * Pixels are three 32×32 planes (all red, then green, then blue; rows top to bottom); samples hand
 * them out interleaved (RGB RGB …, HWC) as sharp's raw input expects.
 *
 * The test file gives the test split; training files are split into train/val by `assignSplit` on
 * ids like `cifar10:data_batch_1.bin#123` (and also give the test split when no test file exists).
 * Only the raw file bytes are held; a record is converted when its sample is loaded.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { chooseClasses, enforceStrict, limitPerClass, requireTwoClasses, sortSamples } from './select.js';
import { assignSplit, splitPercents } from './split.js';
import type { Dataset, LoadOptions, Sample, Skipped, Split } from './types.js';

export type CifarKind = 'cifar10' | 'cifar100';

export interface CifarOptions extends LoadOptions {
  /** CIFAR-100 only: the 100 fine classes (default) or the 20 coarse superclasses. */
  labels?: 'fine' | 'coarse';
  /** Label names to use instead of the meta files'. */
  labelNames?: string[];
}

export const CIFAR_SIZE = 32;
export const CIFAR_PIXELS = CIFAR_SIZE * CIFAR_SIZE * 3;

/** What a CIFAR folder holds. */
export interface CifarLayout {
  kind: CifarKind;
  /** The folder holding the .bin files (may be a child of the folder that was given). */
  dir: string;
  /** Training files (full paths), in batch order. */
  train: string[];
  /** The test file, if present. */
  test?: string;
}

const CIFAR10_TRAIN = /^data_batch_(\d+)\.bin$/;
const CIFAR10_TEST = 'test_batch.bin';
const CIFAR10_META = 'batches.meta.txt';
const CIFAR100_TRAIN = 'train.bin';
const CIFAR100_TEST = 'test.bin';
const CIFAR100_META = { fine: 'fine_label_names.txt', coarse: 'coarse_label_names.txt' } as const;
/** Names of the folders in the official archives (a parent of one of them is accepted too). */
const CIFAR_FOLDERS = ['cifar-10-batches-bin', 'cifar-100-binary'];

const KIND_NAME: Record<CifarKind, string> = { cifar10: 'CIFAR-10', cifar100: 'CIFAR-100' };
const LABEL_BYTES: Record<CifarKind, number> = { cifar10: 1, cifar100: 2 };

export function cifarRecordSize(kind: CifarKind): number {
  return LABEL_BYTES[kind] + CIFAR_PIXELS;
}

/** Whether a file name is one of the CIFAR binary files (`train.bin`/`test.bin` only count with CIFAR-100 meta files). */
export function isCifarFileName(name: string): boolean {
  return CIFAR10_TRAIN.test(name) || name === CIFAR10_TEST;
}

function layoutOf(dir: string, names: string[]): CifarLayout | undefined {
  const batches = names
    .map((n) => ({ n, m: CIFAR10_TRAIN.exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]) || (a.n < b.n ? -1 : 1))
    .map((x) => path.join(dir, x.n));
  if (batches.length > 0 || names.includes(CIFAR10_TEST)) {
    return { kind: 'cifar10', dir, train: batches, test: names.includes(CIFAR10_TEST) ? path.join(dir, CIFAR10_TEST) : undefined };
  }
  const hasBins = names.includes(CIFAR100_TRAIN) || names.includes(CIFAR100_TEST);
  const hasMeta = names.includes(CIFAR100_META.fine) || names.includes(CIFAR100_META.coarse);
  const named = /cifar-?100/i.test(path.basename(dir));
  if (hasBins && (hasMeta || named)) {
    return {
      kind: 'cifar100',
      dir,
      train: names.includes(CIFAR100_TRAIN) ? [path.join(dir, CIFAR100_TRAIN)] : [],
      test: names.includes(CIFAR100_TEST) ? path.join(dir, CIFAR100_TEST) : undefined,
    };
  }
  return undefined;
}

/**
 * The CIFAR layout of `dir`, or of its `cifar-10-batches-bin` / `cifar-100-binary` child (as left
 * by extracting the official archive); undefined when neither holds CIFAR binary files.
 */
export async function findCifarLayout(dir: string): Promise<CifarLayout | undefined> {
  const names = await readdir(dir).catch(() => undefined);
  if (!names) return undefined;
  const own = layoutOf(dir, names);
  if (own) return own;
  for (const child of CIFAR_FOLDERS) {
    if (!names.includes(child)) continue;
    const sub = path.join(dir, child);
    const subNames = await readdir(sub).catch(() => undefined);
    const l = subNames && layoutOf(sub, subNames);
    if (l) return l;
  }
  return undefined;
}

/** Whether `dir` (or its official-archive child folder) holds a CIFAR-10/100 binary dataset. */
export async function isCifarDir(dir: string): Promise<boolean> {
  return (await findCifarLayout(dir)) !== undefined;
}

/** Label names from a meta file: one per line, blank lines dropped; undefined when the file is missing. */
async function readNames(file: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`${file}: label name '${dup}' appears twice`);
  return names;
}

/**
 * Check a CIFAR file's bytes; returns the reason it is unusable, or undefined when it is fine.
 * Valid label bytes are the format's: 0-9 (CIFAR-10); coarse 0-19 and fine 0-99 (CIFAR-100).
 */
export function checkCifarBytes(buf: Buffer, kind: CifarKind): string | undefined {
  const classCounts = kind === 'cifar10' ? [10] : [20, 100];
  const rec = cifarRecordSize(kind);
  const what = `not a ${KIND_NAME[kind]} binary file`;
  if (buf.length === 0) return 'empty file (no records)';
  if (buf.length % rec !== 0) {
    const other: CifarKind = kind === 'cifar10' ? 'cifar100' : 'cifar10';
    const orec = cifarRecordSize(other);
    if (buf.length % orec === 0) {
      return `${what}: ${buf.length} bytes is a multiple of ${orec} (${KIND_NAME[other]} records), not ${rec}`;
    }
    return `truncated: ${buf.length} bytes is not a multiple of ${rec}`;
  }
  const n = buf.length / rec;
  const labelNames = kind === 'cifar10' ? ['label'] : ['coarse label', 'fine label'];
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < classCounts.length; b++) {
      const v = buf[i * rec + b]!;
      if (v >= classCounts[b]!) {
        return `${what}: ${labelNames[b]} ${v} of record ${i} is out of range 0-${classCounts[b]! - 1}`;
      }
    }
  }
  return undefined;
}

/** Planar R,G,B (3×32×32) → interleaved RGB (32×32×3). */
export function planarToInterleaved(planar: Buffer | Uint8Array, pixels = CIFAR_SIZE * CIFAR_SIZE): Buffer {
  const out = Buffer.allocUnsafe(pixels * 3);
  for (let p = 0, o = 0; p < pixels; p++, o += 3) {
    out[o] = planar[p]!;
    out[o + 1] = planar[pixels + p]!;
    out[o + 2] = planar[2 * pixels + p]!;
  }
  return out;
}

/**
 * Load a CIFAR-10 or CIFAR-100 binary dataset from `dir` (the extracted folder, or its parent).
 * A file that is truncated or of the wrong kind is skipped (listed in `skipped`; an error with
 * `strict`, or when no usable file remains).
 */
export async function loadCifarDataset(dir: string, opts: CifarOptions = {}): Promise<Dataset> {
  const { valPercent, testPercent } = splitPercents(opts);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new Error(`${dir}: no such directory`);
  const layout = await findCifarLayout(path.resolve(dir));
  if (!layout) {
    throw new Error(
      `${dir}: not a CIFAR binary folder (expected data_batch_1.bin … test_batch.bin, or train.bin/test.bin with fine_label_names.txt)`,
    );
  }
  const { kind } = layout;
  const root = layout.dir;
  const which = opts.labels ?? 'fine';
  if (kind === 'cifar10' && opts.labels === 'coarse') throw new Error(`${root}: CIFAR-10 has no coarse labels`);
  if (which !== 'fine' && which !== 'coarse') throw new Error(`labels must be 'fine' or 'coarse', got '${String(which)}'`);

  // Names of the label byte in use: the meta file's, or indices.
  const metaFile = kind === 'cifar10' ? CIFAR10_META : CIFAR100_META[which];
  const fileNames = await readNames(path.join(root, metaFile));
  const defaultCount = kind === 'cifar10' ? 10 : which === 'fine' ? 100 : 20;
  const names = opts.labelNames ?? fileNames ?? Array.from({ length: defaultCount }, (_, i) => String(i));
  if (names.length === 0) throw new Error(`${path.join(root, metaFile)}: no label names`);
  const labelByte = kind === 'cifar10' ? 0 : which === 'coarse' ? 0 : 1;
  const rec = cifarRecordSize(kind);

  const parts: { file: string; split: 'train' | 'test' }[] = [
    ...layout.train.map((file) => ({ file, split: 'train' as const })),
    ...(layout.test ? [{ file: layout.test, split: 'test' as const }] : []),
  ];
  const skipped: Skipped[] = [];
  const good: { base: string; split: 'train' | 'test'; buf: Buffer }[] = [];
  for (const { file, split } of parts) {
    const base = path.basename(file);
    const buf = await readFile(file);
    const problem = checkCifarBytes(buf, kind);
    if (problem) skipped.push({ file: base, reason: problem });
    else good.push({ base, split, buf });
  }
  // Without a (usable) test file, the training files also give the test split.
  const haveTest = good.some((g) => g.split === 'test');
  const raw: { id: string; label: number; split: Split; data: Buffer; offset: number }[] = [];
  let maxLabel = -1;
  for (const { base, split, buf } of good) {
    const n = buf.length / rec;
    for (let i = 0; i < n; i++) {
      const id = `${kind}:${base}#${i}`;
      const label = buf[i * rec + labelByte]!;
      if (label > maxLabel) maxLabel = label;
      const s: Split = split === 'test' ? 'test' : assignSplit(id, valPercent, haveTest ? 0 : testPercent);
      raw.push({ id, label, split: s, data: buf, offset: i * rec + LABEL_BYTES[kind] });
    }
  }
  enforceStrict(skipped, opts, root);
  if (good.length === 0) {
    const why = skipped.map((s) => `  ${path.join(root, s.file)}: ${s.reason}`).join('\n');
    throw new Error(`${root}: no usable ${KIND_NAME[kind]} file${why ? `:\n${why}` : ''}`);
  }
  if (maxLabel >= names.length) {
    const src = opts.labelNames ? 'labelNames' : fileNames ? path.join(root, metaFile) : 'the default names';
    throw new Error(`${root}: label ${maxLabel} found but ${src} gives only ${names.length} names`);
  }
  const labels = chooseClasses(names, opts, root);
  if (!opts.unlabelled) requireTwoClasses(labels, root);
  const remap = names.map((n) => labels.indexOf(n));

  const samples: Sample[] = [];
  for (const r of raw) {
    const label = remap[r.label]!;
    if (label < 0) continue;
    const { data, offset } = r;
    samples.push({
      id: r.id,
      label,
      split: r.split,
      kind: 'raw',
      raw: { width: CIFAR_SIZE, height: CIFAR_SIZE, channels: 3 },
      load: async () => planarToInterleaved(data.subarray(offset, offset + CIFAR_PIXELS)),
    });
  }
  return { root, labels, samples: sortSamples(limitPerClass(samples, opts.limitPerClass)), skipped };
}
