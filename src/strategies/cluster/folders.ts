/**
 * `--write-folders`: one folder per cluster (`cluster_03/…`), an ImageFolder ready to rename and
 * train on. Image files are hard-linked when the filesystem allows it, else copied; pixels of
 * IDX/CIFAR samples are written as PNGs. Source files are only ever read: never moved, changed or
 * deleted. The folder is built beside its target and renamed into place (atomic), and an existing
 * target is refused rather than replaced (it may hold the user's renamed folders).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Sample } from '../../data/types.js';
import { writeDirAtomic } from '../../util/fs.js';

export interface FolderResult {
  dir: string;
  /** Cluster folder names, by cluster id. */
  folders: string[];
  linked: number;
  copied: number;
  /** Raw-pixel samples written as PNG. */
  encoded: number;
}

/** `cluster_00` … : two digits at least, more when k > 100. */
export function clusterFolderName(cluster: number, k: number): string {
  return `cluster_${String(cluster).padStart(Math.max(2, String(k - 1).length), '0')}`;
}

/** A file name for a sample inside its cluster folder: the relative path flattened ('a/b.png' → 'a__b.png'). */
function fileNameFor(s: Pick<Sample, 'id' | 'kind'>): string {
  const flat = s.id.replace(/[\\/]/g, '__').replace(/[^\p{L}\p{N}._-]/gu, '_');
  return s.kind === 'raw' ? `${flat}.png` : flat;
}

/** The sample's file under `root`, when it is a file there (IDX/CIFAR samples are not). */
function sourceFile(root: string, s: Pick<Sample, 'id' | 'kind'>): string | undefined {
  if (s.kind !== 'encoded') return undefined;
  const p = path.join(root, ...s.id.split('/'));
  try {
    const real = fs.realpathSync(p);
    return fs.statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

/** Link (or copy) `src` to the new path `dst`; COPYFILE_EXCL: never overwrite. */
function linkOrCopy(src: string, dst: string, copy: boolean): 'linked' | 'copied' {
  if (!copy) {
    try {
      fs.linkSync(src, dst);
      return 'linked';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'EACCES'].includes(code ?? '')) throw e;
    }
  }
  fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
  return 'copied';
}

/** Write `dir/cluster_NN/<file>` for every sample (samples[i] in cluster clusters[i]). */
export async function writeClusterFolders(
  dir: string,
  root: string,
  samples: readonly Pick<Sample, 'id' | 'kind' | 'raw' | 'load'>[],
  clusters: ArrayLike<number>,
  k: number,
  o: { copy?: boolean } = {},
): Promise<FolderResult> {
  if (fs.existsSync(dir)) throw new Error(`${dir} already exists: remove it or pick another --out (graft never replaces cluster folders, they may hold your renames)`);
  const folders = Array.from({ length: k }, (_, c) => clusterFolderName(c, k));
  const res: FolderResult = { dir, folders, linked: 0, copied: 0, encoded: 0 };
  await writeDirAtomic(dir, async (tmp) => {
    for (const f of folders) fs.mkdirSync(path.join(tmp, f));
    const used = new Set<string>();
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      let name = fileNameFor(s);
      for (let dup = 1; used.has(`${clusters[i]}/${name}`); dup++) name = `${dup}_${fileNameFor(s)}`;
      used.add(`${clusters[i]}/${name}`);
      const dst = path.join(tmp, folders[clusters[i]], name);
      const src = sourceFile(root, s);
      if (src) res[linkOrCopy(src, dst, !!o.copy)]++;
      else if (s.kind === 'raw' && s.raw) {
        const { width, height, channels } = s.raw;
        await sharp(await s.load(), { raw: { width, height, channels } }).png().toFile(dst);
        res.encoded++;
      } else {
        fs.writeFileSync(dst, await s.load(), { flag: 'wx' });
        res.copied++;
      }
    }
  });
  return res;
}
