/**
 * ImageFolder datasets: `root/<class>/**` or `root/{train,val|valid,test}/<class>/**`.
 *
 * Files are checked cheaply (size, first bytes, image header via sharp metadata; no pixel
 * decoding). Bad files are returned in `skipped` with a reason; hidden files and files without
 * an image extension are ignored silently. Symlinks are followed only when they stay inside the root.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { isBmp, readBmpHeader } from './bmp.js';
import { chooseClasses, enforceStrict, limitPerClass, requireTwoClasses, sortSamples } from './select.js';
import { assignSplit, splitPercents } from './split.js';
import type { Dataset, LoadOptions, Sample, Skipped, Split } from './types.js';
import { AUDIO_EXTENSIONS, inspectAudioBytes, resolveFrontend } from '../audio/frontend.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp'];

/** Folder names that mark a pre-split layout (matched case-insensitively). */
const SPLIT_DIRS: Record<string, Split> = { train: 'train', val: 'val', valid: 'val', validation: 'val', test: 'test' };

/** Files inspected concurrently. */
const CONCURRENCY = 16;

function hasImageExtension(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase()) || isSoundFile(name);
}

/** Sound files (src/audio) sit in class folders like images; they are read whole to check them. */
function isSoundFile(name: string): boolean {
  return AUDIO_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/** Ids and class names are NFC so they do not change between filesystems (e.g. macOS NFD). */
function nfc(s: string): string {
  return s.normalize('NFC');
}

interface Candidate {
  abs: string;
  /** Relative to the root, '/' separators, NFC. */
  rel: string;
  cls: string;
  /** Split given by the folder layout, or undefined when it comes from the hash. */
  split: Split | 'train-hash';
}

/** What a directory entry is once symlinks are resolved (symlinks leaving the root are refused). */
type Resolved = { type: 'dir' | 'file'; real: string } | { type: 'other' } | { type: 'refused'; reason: string };

async function resolveEntry(abs: string, rootReal: string, isSymlink: boolean): Promise<Resolved> {
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    return isSymlink ? { type: 'refused', reason: 'broken symlink' } : { type: 'other' };
  }
  if (isSymlink && real !== rootReal && !real.startsWith(rootReal + path.sep)) {
    return { type: 'refused', reason: 'symlink leads outside the root' };
  }
  try {
    const st = await stat(real);
    if (st.isDirectory()) return { type: 'dir', real };
    if (st.isFile()) return { type: 'file', real };
  } catch {
    /* vanished or unreadable: ignore like any other non-file */
  }
  return { type: 'other' };
}

/** Non-hidden entries of a directory, sorted, with symlinks resolved. */
async function listDir(
  abs: string,
  rootReal: string,
): Promise<{ name: string; abs: string; resolved: Resolved }[]> {
  const entries = await readdir(abs, { withFileTypes: true });
  const names = entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Promise.all(
    names.map(async (e) => {
      const p = path.join(abs, e.name);
      let resolved: Resolved;
      if (e.isSymbolicLink()) resolved = await resolveEntry(p, rootReal, true);
      else if (e.isDirectory()) resolved = { type: 'dir', real: p };
      else if (e.isFile()) resolved = { type: 'file', real: p };
      else resolved = { type: 'other' };
      return { name: e.name, abs: p, resolved };
    }),
  );
}

/** Collect image-extension files under a class folder, recursively. */
async function walkClass(
  absDir: string,
  relDir: string,
  cls: string,
  split: Candidate['split'],
  rootReal: string,
  visited: Set<string>,
  out: Candidate[],
  skipped: Skipped[],
): Promise<void> {
  for (const { name, abs, resolved } of await listDir(absDir, rootReal)) {
    const rel = relDir ? `${relDir}/${nfc(name)}` : nfc(name);
    if (resolved.type === 'refused') {
      skipped.push({ file: rel, reason: resolved.reason });
    } else if (resolved.type === 'dir') {
      const real = await realpath(abs).catch(() => abs);
      if (visited.has(real)) continue; // symlink loop or folder already walked
      visited.add(real);
      await walkClass(abs, rel, cls, split, rootReal, visited, out, skipped);
    } else if (resolved.type === 'file' && hasImageExtension(name)) {
      out.push({ abs, rel, cls, split });
    }
  }
}

/** Why a candidate image cannot be used, or undefined if it looks fine (header-only check). */
export async function inspectImage(abs: string): Promise<string | undefined> {
  return (await inspectFile(abs)).reason;
}

/** The header check, plus a sound file's length in seconds (0 when its header does not say). */
async function inspectFile(abs: string): Promise<{ reason?: string; seconds?: number }> {
  if (isSoundFile(abs)) {
    try {
      return inspectAudioBytes(await readFile(abs));
    } catch (e) {
      return { reason: `unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
    }
  }
  return { reason: await inspectImageHeader(abs) };
}

async function inspectImageHeader(abs: string): Promise<string | undefined> {
  let head: Buffer;
  let size: number;
  try {
    const fh = await open(abs, 'r');
    try {
      size = (await fh.stat()).size;
      head = Buffer.alloc(Math.min(size, 256));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    return `unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (size === 0) return 'empty file (0 bytes)';
  let width: number;
  let height: number;
  if (isBmp(head)) {
    try {
      const h = readBmpHeader(head);
      if (h.unsupported) return h.unsupported;
      ({ width, height } = h);
    } catch (e) {
      return `corrupt BMP header (${(e as Error).message})`;
    }
  } else {
    try {
      // Reads the header only; a file whose extension does not match its content is fine.
      const meta = await sharp(abs).metadata();
      width = meta.width ?? 0;
      height = meta.height ?? 0;
    } catch (e) {
      return `not an image or corrupt header (${(e as Error).message.trim()})`;
    }
  }
  if (width < 2 || height < 2) return `image too small (${width}×${height})`;
  return undefined;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export async function loadImageFolder(root: string, opts: LoadOptions = {}): Promise<Dataset> {
  const { valPercent, testPercent } = splitPercents(opts);
  const rootAbs = path.resolve(root);
  let rootReal: string;
  try {
    rootReal = await realpath(rootAbs);
    if (!(await stat(rootReal)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new Error(`${root}: no such directory`);
  }
  const skipped: Skipped[] = [];

  // Layout: pre-split folders, or class folders directly under the root.
  const top = await listDir(rootAbs, rootReal);
  const splitDirs = top.filter((e) => e.resolved.type === 'dir' && SPLIT_DIRS[e.name.toLowerCase()] !== undefined);
  const presplit = splitDirs.length > 0;
  const present = new Set(splitDirs.map((e) => SPLIT_DIRS[e.name.toLowerCase()]!));
  /** Split rule for files in a given split folder. */
  const splitOf = (folder: string): Candidate['split'] => {
    const s = SPLIT_DIRS[folder.toLowerCase()]!;
    return s === 'train' && (!present.has('val') || !present.has('test')) ? 'train-hash' : s;
  };

  /** (class name → folders holding it) */
  const classDirs = new Map<string, { abs: string; rel: string; split: Candidate['split'] }[]>();
  const addClassDir = (cls: string, abs: string, rel: string, split: Candidate['split']) => {
    const list = classDirs.get(cls) ?? [];
    list.push({ abs, rel, split });
    classDirs.set(cls, list);
  };
  const scanLevel = async (entries: typeof top, relPrefix: string, split: Candidate['split']) => {
    for (const e of entries) {
      const rel = relPrefix + nfc(e.name);
      if (e.resolved.type === 'dir') addClassDir(nfc(e.name), e.abs, rel, split);
      else if (e.resolved.type === 'refused') skipped.push({ file: rel, reason: e.resolved.reason });
      else if (e.resolved.type === 'file' && hasImageExtension(e.name)) {
        skipped.push({ file: rel, reason: 'not inside a class folder' });
      }
    }
  };
  if (presplit) {
    for (const e of top) {
      if (splitDirs.includes(e)) {
        await scanLevel(await listDir(e.abs, rootReal), `${nfc(e.name)}/`, splitOf(e.name));
      } else if (e.resolved.type === 'dir') {
        skipped.push({ file: nfc(e.name), reason: 'folder ignored: the root has train/val/test folders' });
      } else {
        await scanLevel([e], '', 'train');
      }
    }
  } else {
    await scanLevel(top, '', 'train-hash');
  }

  if (opts.unlabelled && !presplit && classDirs.size === 0 && skipped.some((x) => x.reason === 'not inside a class folder')) {
    // A flat folder of images: one class named after the folder, files keep their plain names.
    const flat = skipped.filter((x) => x.reason === 'not inside a class folder');
    skipped.splice(0, skipped.length, ...skipped.filter((x) => !flat.includes(x)));
    addClassDir(path.basename(rootAbs) || 'images', rootAbs, '', 'train-hash');
  }
  const known = [...classDirs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (known.length === 0) {
    if (opts.unlabelled && !presplit) throw new Error(`${root}: no images (expected image files, or <class>/<image files>, inside it)`);
    throw new Error(`${root}: no class folders (expected ${presplit ? '<split>/' : ''}<class>/<image files> inside it)`);
  }
  const labels = chooseClasses(known, opts, root);
  if (!opts.unlabelled) requireTwoClasses(labels, root);

  // Walk the chosen classes and check every candidate's header.
  const candidates: Candidate[] = [];
  for (const cls of labels) {
    for (const dir of classDirs.get(cls)!) {
      const visited = new Set([await realpath(dir.abs).catch(() => dir.abs)]);
      await walkClass(dir.abs, dir.rel, cls, dir.split, rootReal, visited, candidates, skipped);
    }
  }
  const checks = await mapLimit(candidates, CONCURRENCY, (c) => inspectFile(c.abs));
  const seconds = new Map<Sample, number>();

  const samples: Sample[] = [];
  candidates.forEach((c, i) => {
    const reason = checks[i]!.reason;
    if (reason !== undefined) {
      skipped.push({ file: c.rel, reason });
      return;
    }
    const split =
      c.split !== 'train-hash'
        ? c.split
        : assignSplit(c.rel, present.has('val') ? 0 : valPercent, present.has('test') ? 0 : testPercent);
    const abs = c.abs;
    const sample: Sample = { id: c.rel, label: labels.indexOf(c.cls), split, kind: 'encoded', file: abs, load: () => readFile(abs) };
    samples.push(sample);
    if (checks[i]!.seconds !== undefined) seconds.set(sample, checks[i]!.seconds!);
  });
  skipped.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

  const empty = labels.filter((_, i) => !samples.some((s) => s.label === i));
  if (empty.length > 0) {
    const where = empty.map((cls) => classDirs.get(cls)!.map((d) => d.rel).join(', '));
    throw new Error(
      `empty class folder${empty.length > 1 ? 's' : ''}: ${empty.map((c, i) => `'${c}' (${where[i]})`).join('; ')} in ${root} ` +
        `has no usable images${skipped.length ? ` (${skipped.length} file(s) skipped)` : ''}; remove it or leave it out with --classes`,
    );
  }
  enforceStrict(skipped, opts, root);
  const chosen = sortSamples(limitPerClass(samples, opts.limitPerClass));
  return { root: rootAbs, labels, samples: chosen, skipped, ...(candidates.some((c) => isSoundFile(c.abs)) ? soundFrontend(chosen, seconds, opts) : {}) };
}

/** The folder's audio front-end; `--duration auto` takes the median length of the training split's sound files. */
function soundFrontend(samples: Sample[], seconds: Map<Sample, number>, opts: LoadOptions): Pick<Dataset, 'audio' | 'audioAuto'> {
  const { fe, auto } = resolveFrontend(opts.audio, () => samples.filter((s) => s.split === 'train' && seconds.has(s)).map((s) => seconds.get(s)!));
  return { audio: fe, ...(auto ? { audioAuto: auto } : {}) };
}
