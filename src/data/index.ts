/** Data layer entry point: pick the right loader for a path. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isCifarDir, isCifarFileName, loadCifarDataset } from './cifar.js';
import { isIdxFileName, loadIdxDataset } from './idx.js';
import { loadImageFolder } from './imagefolder.js';
import type { Dataset, LoadOptions } from './types.js';

export type { Dataset, LoadOptions, Sample, Skipped, Split } from './types.js';
export { assignSplit, splitPercentage } from './split.js';
export { loadImageFolder, inspectImage, IMAGE_EXTENSIONS } from './imagefolder.js';
export { loadIdxDataset, readIdx, FASHION_MNIST_LABELS } from './idx.js';
export { decodeToTensorData, decodeToRgb, normalizeRgb, preprocessKey, ALPHA_BACKGROUND } from './decode.js';
export type { Preprocess } from './decode.js';
export { writeMnistImageFolder } from './mnist-images.js';
export { loadCifarDataset, isCifarDir, findCifarLayout, planarToInterleaved } from './cifar.js';
export type { CifarKind, CifarLayout, CifarOptions } from './cifar.js';

/**
 * Load a dataset: CIFAR-10/100 binary when the folder (or its `cifar-10-batches-bin` /
 * `cifar-100-binary` child) holds CIFAR files, IDX (MNIST/Fashion-MNIST) when it holds IDX files
 * (a CIFAR or IDX file's path selects its folder), otherwise an ImageFolder.
 */
export async function loadDataset(
  pathOrDir: string,
  opts: LoadOptions & { labelNames?: string[]; labels?: 'fine' | 'coarse' } = {},
): Promise<Dataset> {
  const st = await stat(pathOrDir).catch(() => undefined);
  if (!st) throw new Error(`${pathOrDir}: no such directory`);
  if (st.isFile()) {
    const base = path.basename(pathOrDir);
    const parent = path.dirname(pathOrDir);
    if (isCifarFileName(base) || (/\.bin$/i.test(base) && (await isCifarDir(parent)))) return loadCifarDataset(parent, opts);
    if (isIdxFileName(path.basename(pathOrDir))) return loadIdxDataset(path.dirname(pathOrDir), opts);
    throw new Error(`${pathOrDir}: expected a folder of images or IDX files, got a file`);
  }
  if (await isCifarDir(pathOrDir)) return loadCifarDataset(pathOrDir, opts);
  const names = await readdir(pathOrDir);
  if (names.some(isIdxFileName)) return loadIdxDataset(pathOrDir, opts);
  return loadImageFolder(pathOrDir, opts);
}
