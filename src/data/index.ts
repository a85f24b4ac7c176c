/** Data layer entry point: pick the right loader for a path. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
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

/**
 * Load a dataset: IDX (MNIST/Fashion-MNIST) when the folder holds IDX files (an IDX file's path
 * selects its folder), otherwise an ImageFolder.
 */
export async function loadDataset(
  pathOrDir: string,
  opts: LoadOptions & { labelNames?: string[] } = {},
): Promise<Dataset> {
  const st = await stat(pathOrDir).catch(() => undefined);
  if (!st) throw new Error(`${pathOrDir}: no such directory`);
  if (st.isFile()) {
    if (isIdxFileName(path.basename(pathOrDir))) return loadIdxDataset(path.dirname(pathOrDir), opts);
    throw new Error(`${pathOrDir}: expected a folder of images or IDX files, got a file`);
  }
  const names = await readdir(pathOrDir);
  if (names.some(isIdxFileName)) return loadIdxDataset(pathOrDir, opts);
  return loadImageFolder(pathOrDir, opts);
}
