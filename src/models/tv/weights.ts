/**
 * Where a torchvision-architecture backbone's weights come from (WeightsOption):
 *
 * - a local file (.pth / .pt / .safetensors): read with graft's importers; the weights hash is the
 *   sha256 of the file's bytes;
 * - 'imagenet': the tag's published torchvision file, from `$GRAFT_HOME/weights/<file>` when it is
 *   there and its sha256 is the published one, else downloaded from download.pytorch.org with the
 *   full sha256 checked (offline, the download error says where to place the file by hand);
 * - nothing: an error — these tags ship no weights, and a silent multi-hundred-MB download is not
 *   a default.
 *
 * The sha256 pins below are of the files at the URLs. torchvision names each file with the first
 * 8 hex digits of its sha256; every full digest here starts with that prefix, except EfficientNet-B0
 * (see efficientnet.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { download, DownloadError, hashFile } from '../../util/download.js';
import { graftHome } from '../../util/fs.js';
import { readStateDict, type StateDict } from '../../import/index.js';
import type { WeightsOption } from '../types.js';

export interface TvWeightsSource {
  /** File name as published (also its name in graft's cache). */
  file: string;
  url: string;
  /** Full sha256 of the published file. */
  sha256: string;
  /** Size in bytes, when known. */
  size?: number;
}

/** The folder graft keeps downloaded torchvision weights in. */
export function tvWeightsDir(): string {
  return path.join(graftHome(), 'weights');
}

/** sha256 of files already hashed in this process (keyed by path, size and mtime). */
const hashMemo = new Map<string, string>();

export async function fileSha256(file: string): Promise<string> {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`;
  let h = hashMemo.get(key);
  if (!h) {
    h = (await hashFile(file)).sha256;
    hashMemo.set(key, h);
  }
  return h;
}

function noWeights(name: string): Error {
  return new Error(`${name} needs --weights FILE or --weights imagenet`);
}

function checkLocal(name: string, file: string): string {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`${name}: weights file ${file} does not exist (give a .pth/.pt/.safetensors state dict, or --weights imagenet)`);
  if (!fs.statSync(abs).isFile()) throw new Error(`${name}: weights ${file} is not a file`);
  return abs;
}

/**
 * The weights hash without reading a state dict: a local file's sha256 (hashed once per process),
 * or the published sha256 for 'imagenet'. With no weights option it is also the published
 * sha256 — the hash `--weights imagenet` would give, so a converted graph cached from it is found;
 * loading still insists on an explicit --weights.
 */
export async function tvWeightsHash(name: string, src: TvWeightsSource, w: WeightsOption = {}): Promise<string> {
  if (!w.weights || w.weights === 'imagenet') return src.sha256;
  return fileSha256(checkLocal(name, w.weights));
}

/** Resolve the weights option to a verified file on disk (downloading 'imagenet' if needed). */
export async function resolveTvWeights(name: string, src: TvWeightsSource, w: WeightsOption = {}): Promise<{ file: string; sha256: string }> {
  if (!w.weights) throw noWeights(name);
  if (w.weights !== 'imagenet') {
    const file = checkLocal(name, w.weights);
    return { file, sha256: await fileSha256(file) };
  }
  const dest = path.join(tvWeightsDir(), src.file);
  let stale: string | undefined;
  if (fs.existsSync(dest)) {
    const h = await fileSha256(dest);
    if (h === src.sha256) return { file: dest, sha256: h };
    stale = h;
  }
  if (process.stderr.isTTY) process.stderr.write(`${name}: downloading ${src.url}${src.size ? ` (${(src.size / 1048576).toFixed(0)} MiB)` : ''}\n`);
  try {
    await download(src.url, dest, { sha256: src.sha256, size: src.size });
  } catch (e) {
    if (stale && e instanceof DownloadError) {
      throw new DownloadError(`${e.message}\n(${dest} is there but has sha256 ${stale}, not the published file's.)`, e.kind, e.url, e.dest);
    }
    throw e;
  }
  return { file: dest, sha256: src.sha256 };
}

/** Read a state dict, naming the architecture and file when the file is unreadable. */
export function readTvStateDict(name: string, file: string): StateDict {
  try {
    return readStateDict(file);
  } catch (e) {
    throw new Error(`${name}: cannot read weights from ${file}: ${(e as Error).message}`, { cause: e });
  }
}
