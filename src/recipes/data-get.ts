/**
 * `graft data get NAME`: fetch a public dataset into `$GRAFT_HOME/datasets/<name>/`, checked
 * against the checksums its publisher gives, and ready for `loadDataset`.
 *
 * CIFAR-10/100: the official binary `.tar.gz` is downloaded, verified, and extracted (by the small
 * tar reader below) into `cifar-10-batches-bin/` / `cifar-100-binary/`; a marker file records what
 * was extracted so a later call does nothing. MNIST / Fashion-MNIST: the four `.gz` IDX files are
 * kept as they are (the IDX loader reads gzip). Debian's `dataset-fashion-mnist` package
 * (/usr/share/datasets/fashion-mnist) is used in place when installed.
 */
import fs, { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { findIdxFiles } from '../data/idx.js';
import { DownloadError, checksumMismatch, describeChecksum, download, hashFile } from '../util/download.js';
import { graftHome, writeDirAtomic } from '../util/fs.js';
import { silentReporter, type Progress, type Reporter } from '../util/log.js';

export type DatasetName = 'cifar10' | 'cifar100' | 'mnist' | 'fashion-mnist';

export interface Checksum {
  md5?: string;
  sha256?: string;
  size?: number;
}

export interface RemoteFile extends Checksum {
  file: string;
}

export interface DatasetSource {
  name: DatasetName;
  title: string;
  /** Where the files are published (file names are appended). */
  baseUrl: string;
  files: RemoteFile[];
  /** For an archive: the folder it unpacks to, and the files that folder must hold. */
  archive?: { folder: string; expect: string[] };
  /** Folders where a system package installs the dataset (used in place, nothing downloaded). */
  systemDirs?: string[];
  /** Where the checksums come from. */
  checksumSource: string;
}

/**
 * The datasets `dataGet` knows. Checksums are the publishers' own (md5 is all they give); sizes
 * where they are well attested.
 */
export const DATASET_SOURCES: Record<DatasetName, DatasetSource> = {
  cifar10: {
    name: 'cifar10',
    title: 'CIFAR-10 (binary version)',
    baseUrl: 'https://www.cs.toronto.edu/~kriz',
    // md5 as listed on the dataset page (https://www.cs.toronto.edu/~kriz/cifar.html). A third-party
    // report gives sha256 c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd (not used).
    files: [{ file: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530', size: 170052171 }],
    archive: {
      folder: 'cifar-10-batches-bin',
      expect: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin', 'batches.meta.txt'],
    },
    checksumSource: 'md5 from https://www.cs.toronto.edu/~kriz/cifar.html',
  },
  cifar100: {
    name: 'cifar100',
    title: 'CIFAR-100 (binary version)',
    baseUrl: 'https://www.cs.toronto.edu/~kriz',
    files: [{ file: 'cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8', size: 168513733 }],
    archive: {
      folder: 'cifar-100-binary',
      expect: ['train.bin', 'test.bin', 'coarse_label_names.txt', 'fine_label_names.txt'],
    },
    checksumSource: 'md5 from https://www.cs.toronto.edu/~kriz/cifar.html',
  },
  mnist: {
    name: 'mnist',
    title: 'MNIST',
    // The original host (yann.lecun.com) often refuses downloads; this mirror serves the same files.
    baseUrl: 'https://ossci-datasets.s3.amazonaws.com/mnist',
    files: [
      { file: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
      { file: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
      { file: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
      { file: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
    ],
    checksumSource: "md5 of the original files, as used by torchvision's MNIST",
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST',
    baseUrl: 'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion',
    files: [
      { file: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      { file: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
      { file: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
      { file: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
    ],
    systemDirs: ['/usr/share/datasets/fashion-mnist'],
    checksumSource: "md5 from Zalando's fashion-mnist README",
  },
};

export const DATASET_NAMES = Object.keys(DATASET_SOURCES) as DatasetName[];

export interface DataGetOptions {
  /** graft's home (default `graftHome()`); datasets go to `<home>/datasets/<name>/`. */
  home?: string;
  /** Fetch from here instead of the publisher (a mirror, or a local server in tests). */
  baseUrl?: string;
  /**
   * Checksums to use instead of the table's, by file name (for mirrors and tests). Each must give
   * an md5 or a sha256: checking can be changed, never switched off.
   */
  checksums?: Record<string, Checksum>;
  /** Folders to look in for a system-installed copy instead of the table's (`[]`: none). */
  systemDirs?: string[];
  /** Keep the downloaded archive after extracting it (default: removed). */
  keepArchive?: boolean;
  reporter?: Reporter;
  /** Network idle timeout in ms (see `download`). */
  timeoutMs?: number;
}

export interface DataGetResult {
  name: DatasetName;
  /** The folder to hand to `loadDataset`. */
  dir: string;
  /** The dataset's files (full paths). */
  files: string[];
  /** Something was downloaded by this call. */
  downloaded: boolean;
  /** Where the files came from: this call's download, graft's cache, or a system package. */
  from: 'download' | 'cache' | 'system';
}

const MARKER = '.graft-dataset.json';

function fmtMiB(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The checksum to check a file against: the override's when given (which must check something), else the table's. */
function checksumFor(f: RemoteFile, overrides: Record<string, Checksum> | undefined): Checksum {
  const o = overrides?.[f.file];
  if (!o) return { md5: f.md5, sha256: f.sha256, size: f.size };
  if (!o.md5 && !o.sha256) throw new Error(`checksum override for ${f.file} must give an md5 or a sha256`);
  return { md5: o.md5, sha256: o.sha256, size: o.size };
}

/** A byte-progress callback drawing a reporter progress bar in KiB. */
function progressFor(reporter: Reporter, label: string): (received: number, total: number | undefined) => void {
  let bar: Progress | undefined;
  let shown = 0;
  return (received, total) => {
    if (!bar) {
      if (total === undefined) return;
      bar = reporter.progress(`${label} (KiB)`, Math.ceil(total / 1024));
      shown = Math.floor(received / 1024);
      if (shown > 0) bar.tick(shown);
    }
    const now = Math.floor(received / 1024);
    if (now > shown) {
      bar.tick(now - shown);
      shown = now;
    }
    if (total !== undefined && received >= total) {
      bar.done();
      bar = undefined;
    }
  };
}

/** Download one file unless it is already there with the right checksum; true when downloaded. */
async function fetchFile(
  f: RemoteFile,
  dest: string,
  baseUrl: string,
  sum: Checksum,
  opts: DataGetOptions,
  reporter: Reporter,
): Promise<boolean> {
  if (existsSync(dest)) {
    const bad = checksumMismatch(await hashFile(dest), sum);
    if (!bad) return false;
    reporter.warn(`${dest} does not match its checksum (${bad}); downloading it again`);
    await rm(dest, { force: true });
  }
  const url = `${baseUrl.replace(/\/+$/, '')}/${f.file}`;
  reporter.info(`downloading ${url}${sum.size ? ` (${fmtMiB(sum.size)})` : ''} → ${dest}`);
  await download(url, dest, {
    md5: sum.md5,
    sha256: sum.sha256,
    size: sum.size,
    timeoutMs: opts.timeoutMs,
    onProgress: progressFor(reporter, f.file),
  });
  return true;
}

interface Marker {
  name: string;
  archive: string;
  checksum: Checksum;
  files: Record<string, number>;
}

/** The extracted folder is complete: its marker names the same archive checksum and every file has its size. */
async function markerOk(dir: string, f: RemoteFile, sum: Checksum): Promise<boolean> {
  let m: Marker;
  try {
    m = JSON.parse(await readFile(path.join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return false;
  }
  if (m.archive !== f.file) return false;
  if ((sum.md5 ?? '') !== (m.checksum?.md5 ?? '') || (sum.sha256 ?? '') !== (m.checksum?.sha256 ?? '')) return false;
  for (const [rel, size] of Object.entries(m.files ?? {})) {
    const st = await stat(path.join(dir, rel)).catch(() => undefined);
    if (!st?.isFile() || st.size !== size) return false;
  }
  return Object.keys(m.files ?? {}).length > 0;
}

/**
 * Make a dataset available locally (see the module comment): download what is missing, verify it,
 * unpack archives. Offline, the error names the URL, where to put the file by hand and its checksum.
 */
export async function dataGet(name: DatasetName, opts: DataGetOptions = {}): Promise<DataGetResult> {
  const src = DATASET_SOURCES[name];
  if (!src) throw new Error(`unknown dataset '${String(name)}' (known: ${DATASET_NAMES.join(', ')})`);
  const reporter = opts.reporter ?? silentReporter;
  const baseUrl = opts.baseUrl ?? src.baseUrl;
  // Validate overrides up front, before touching the network.
  const sums = new Map(src.files.map((f) => [f.file, checksumFor(f, opts.checksums)]));

  // A system package's copy, used in place.
  for (const sys of opts.systemDirs ?? src.systemDirs ?? []) {
    if (!existsSync(sys)) continue;
    const found = await findIdxFiles(sys).catch(() => ({}) as Awaited<ReturnType<typeof findIdxFiles>>);
    const files = [found.train?.images, found.train?.labels, found.test?.images, found.test?.labels].filter((x): x is string => !!x);
    if (files.length === 4) {
      reporter.info(`${src.title}: using the system copy in ${sys}`);
      return { name, dir: sys, files, downloaded: false, from: 'system' };
    }
  }

  const home = path.resolve(opts.home ?? graftHome());
  const base = path.join(home, 'datasets', name);
  await mkdir(base, { recursive: true });

  if (!src.archive) {
    let downloaded = false;
    for (const f of src.files) {
      try {
        if (await fetchFile(f, path.join(base, f.file), baseUrl, sums.get(f.file)!, opts, reporter)) downloaded = true;
      } catch (e) {
        if (!(e instanceof DownloadError) || (e.kind !== 'offline' && e.kind !== 'dropped')) throw e;
        // Name every file the dataset needs, for whoever places them by hand.
        const all = src.files.map((g) => `  ${path.join(base, g.file)}  (${describeChecksum(sums.get(g.file)!)})`).join('\n');
        throw new DownloadError(`${e.message}\n${src.title} needs all of these files:\n${all}`, e.kind, e.url, e.dest);
      }
    }
    const files = src.files.map((f) => path.join(base, f.file));
    if (!downloaded) reporter.info(`${src.title}: already in ${base}`);
    return { name, dir: base, files, downloaded, from: downloaded ? 'download' : 'cache' };
  }

  const { folder, expect } = src.archive;
  const f = src.files[0]!;
  const sum = sums.get(f.file)!;
  const dir = path.join(base, folder);
  const files = expect.map((e) => path.join(dir, e));
  if (await markerOk(dir, f, sum)) {
    reporter.info(`${src.title}: already in ${dir}`);
    return { name, dir, files, downloaded: false, from: 'cache' };
  }
  const archive = path.join(base, f.file);
  const downloaded = await fetchFile(f, archive, baseUrl, sum, opts, reporter);
  reporter.info(`extracting ${f.file} → ${dir}`);
  await writeDirAtomic(dir, async (tmp) => {
    const written = await extractTarGz(archive, tmp, { prefix: `${folder}/` });
    const missing = expect.filter((e) => !written.includes(e));
    if (missing.length > 0) {
      throw new Error(`${archive}: the archive lacks ${missing.map((m) => `${folder}/${m}`).join(', ')}`);
    }
    const sizes: Record<string, number> = {};
    for (const rel of written) sizes[rel] = (await stat(path.join(tmp, rel))).size;
    const marker: Marker = { name, archive: f.file, checksum: { md5: sum.md5, sha256: sum.sha256 }, files: sizes };
    await writeFile(path.join(tmp, MARKER), JSON.stringify(marker, null, 2) + '\n');
  });
  if (!opts.keepArchive) await rm(archive, { force: true });
  return { name, dir, files, downloaded, from: downloaded ? 'download' : 'cache' };
}

// ---------------------------------------------------------------------------------------------
// A small tar reader: ustar/GNU/pax headers, regular files only, safe paths.

/** Reads exact byte counts from an async stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private len = 0;
  private ended = false;
  offset = 0;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.len < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.len += r.value.length;
      }
    }
    return this.len >= n;
  }

  /** Exactly `n` bytes, or undefined at the end of the stream (a partial read is an error). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.len === 0) return undefined;
      throw new Error(`unexpected end of archive at byte ${this.offset + this.len}`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.len = rest.length;
    this.offset += n;
    return out;
  }

  /** `n` bytes handed out chunk by chunk. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.len === 0 && !(await this.fill(1))) throw new Error(`unexpected end of archive at byte ${this.offset}`);
      const c = this.chunks[0]!;
      const k = Math.min(left, c.length);
      const out = c.subarray(0, k);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.len -= k;
      this.offset += k;
      left -= k;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) void _;
  }
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

/** A numeric header field: octal text, or base-256 when the top bit of the first byte is set. */
function tarNumber(b: Buffer, start: number, len: number): number {
  if (b[start]! & 0x80) {
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const t = cstr(b, start, len).trim();
  if (t === '') return 0;
  if (!/^[0-7]+$/.test(t)) throw new Error(`bad number '${t}' in tar header`);
  return parseInt(t, 8);
}

function headerChecksumOk(h: Buffer): boolean {
  const stored = tarNumber(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

/** pax extended header records: "<len> <key>=<value>\n". */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** A safe relative path for an archive member, or an error for absolute / `..` paths. */
export function safeTarPath(name: string): string {
  if (name === '' || name.includes('\0')) throw new Error(`unsafe path in archive: '${name}'`);
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    throw new Error(`unsafe path in archive: '${name}' is absolute`);
  }
  const parts = name.split(/[/\\]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`unsafe path in archive: '${name}' leaves the target folder`);
  return parts.join('/');
}

async function readData(r: ByteReader, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r.take(size)) chunks.push(Buffer.from(c));
  await r.skip((512 - (size % 512)) % 512);
  return Buffer.concat(chunks);
}

/**
 * Extract the regular files of a tar archive (gzip-compressed or not, detected by content) into
 * `destDir`. With `prefix`, only members under that folder are extracted, without the prefix.
 * Directories are created as needed; links and devices are skipped; absolute paths and `..` are
 * refused. Returns the relative paths written.
 */
export async function extractTarGz(archive: string, destDir: string, opts: { prefix?: string } = {}): Promise<string[]> {
  const head = Buffer.alloc(2);
  const fh0 = await open(archive, 'r');
  try {
    await fh0.read(head, 0, 2, 0);
  } finally {
    await fh0.close();
  }
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const input = fs.createReadStream(archive, { highWaterMark: 1 << 20 });
  const stream = gz ? pipeline(input, createGunzip(), () => {}) : input;
  const r = new ByteReader(stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  const root = path.resolve(destDir);
  const prefix = opts.prefix ? safeTarPath(opts.prefix) + '/' : '';
  const written: string[] = [];
  let nextPath: string | undefined;
  let nextSize: number | undefined;
  try {
    for (;;) {
      const at = r.offset;
      const h = await r.read(512);
      if (!h) break; // end without the two zero blocks: accepted
      if (h.every((b) => b === 0)) break;
      if (!headerChecksumOk(h)) throw new Error(`corrupt tar header at byte ${at}`);
      const type = String.fromCharCode(h[156]!);
      let size = tarNumber(h, 124, 12);
      const magic = h.subarray(257, 263).toString('latin1');
      let name = cstr(h, 0, 100);
      if (magic === 'ustar\0') {
        const pre = cstr(h, 345, 155);
        if (pre) name = `${pre}/${name}`;
      }
      if (type === 'x' || type === 'L' || type === 'g' || type === 'K') {
        const data = await readData(r, size);
        if (type === 'x') {
          const pax = parsePax(data);
          if (pax.path !== undefined) nextPath = pax.path;
          if (pax.size !== undefined) nextSize = Number(pax.size);
        } else if (type === 'L') nextPath = cstr(data, 0, data.length);
        continue;
      }
      if (nextPath !== undefined) name = nextPath;
      if (nextSize !== undefined) size = nextSize;
      nextPath = undefined;
      nextSize = undefined;
      const padding = (512 - (size % 512)) % 512;
      const regular = type === '0' || type === '\0' || type === '7';
      // Links, devices, fifos and directories carry no data we want (directories: size 0).
      if (!regular) {
        await r.skip(size + padding);
        continue;
      }
      let rel = safeTarPath(name);
      if (prefix) {
        if (!rel.startsWith(prefix)) {
          await r.skip(size + padding);
          continue;
        }
        rel = rel.slice(prefix.length);
      }
      const target = path.resolve(root, rel);
      const back = path.relative(root, target);
      if (!back || back.startsWith('..') || path.isAbsolute(back)) throw new Error(`unsafe path in archive: '${name}'`);
      await mkdir(path.dirname(target), { recursive: true });
      const out = await open(target, 'w');
      try {
        for await (const c of r.take(size)) await out.write(c);
      } finally {
        await out.close();
      }
      await r.skip(padding);
      if (!written.includes(rel)) written.push(rel);
    }
  } catch (e) {
    input.destroy();
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(archive) ? msg : `${archive}: ${msg}`);
  } finally {
    input.destroy();
  }
  return written;
}
