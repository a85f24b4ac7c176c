/**
 * Stable train/val/test assignment by hash of a file's id (TensorFlow retrain.py's rule).
 *
 * A file's split depends only on its own id, so adding or removing other files never moves it.
 * Applied to every file of every class, the proportions hold per class (stratified in
 * expectation; a class with very few files may still get no val/test files).
 */
import { createHash } from 'node:crypto';
import type { LoadOptions, Split } from './types.js';

/** retrain.py's MAX_NUM_IMAGES_PER_CLASS: the hash is reduced modulo this + 1. */
const MAX_NUM = 2 ** 27 - 1;

/**
 * Percentage in [0, 100] for an id, exactly as retrain.py computes it: ids that differ only
 * after `_nohash_` share a value (so e.g. several recordings of one speaker stay together).
 */
export function splitPercentage(id: string): number {
  const hashName = id.replace(/_nohash_.*$/, '');
  const digest = createHash('sha1').update(hashName, 'utf8').digest();
  // int(hexdigest, 16) % 2**27 is the digest's low 27 bits.
  const low = digest.readUInt32BE(digest.length - 4) & MAX_NUM;
  return low * (100 / MAX_NUM);
}

/** test if < testPercent, val if < testPercent + valPercent, else train. */
export function assignSplit(id: string, valPercent: number, testPercent: number): Split {
  const p = splitPercentage(id);
  if (p < testPercent) return 'test';
  if (p < testPercent + valPercent) return 'val';
  return 'train';
}

/** Validated val/test percentages from options (defaults 10/10). */
export function splitPercents(opts: LoadOptions = {}): { valPercent: number; testPercent: number } {
  const valPercent = opts.valPercent ?? 10;
  const testPercent = opts.testPercent ?? 10;
  for (const [name, v] of [['valPercent', valPercent], ['testPercent', testPercent]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 100) throw new Error(`${name} must be between 0 and 100, got ${v}`);
  }
  if (valPercent + testPercent > 100) {
    throw new Error(`valPercent + testPercent must be at most 100, got ${valPercent + testPercent}`);
  }
  return { valPercent, testPercent };
}
