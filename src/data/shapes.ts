/**
 * A small attribute dataset rendered offline (sharp rasterises SVG): classes are shape × colour
 * combinations, described by one-hot attributes (shape_*, colour_*); some combinations are held
 * out entirely as unseen classes. For zero-shot tests, demos and measurements.
 *
 *   dir/seen/train/<shape>-<colour>/*.png, dir/seen/test/<shape>-<colour>/*.png,
 *   dir/unseen/<shape>-<colour>/*.png, dir/classes.csv (header class,shape_circle,…,colour_red,…)
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { rng } from '../util/rng.js';

export const SHAPES = ['circle', 'square', 'triangle', 'cross'] as const;
export const COLOURS: Record<string, [number, number, number]> = { red: [220, 40, 40], green: [40, 170, 60], blue: [50, 80, 220], yellow: [230, 200, 40] };
/** Held out by default: one combination per shape and per colour. */
export const DEFAULT_UNSEEN = ['circle-red', 'square-green', 'triangle-blue', 'cross-yellow'];

function shapeSvg(shape: string, cx: number, cy: number, r: number, rot: number, fill: string): string {
  const pts = (k: number, start: number) => Array.from({ length: k }, (_, i) => [cx + r * Math.cos(start + (2 * Math.PI * i) / k), cy + r * Math.sin(start + (2 * Math.PI * i) / k)].map((v) => v.toFixed(1)).join(',')).join(' ');
  switch (shape) {
    case 'circle':
      return `<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}"/>`;
    case 'square':
      return `<polygon points="${pts(4, rot)}" fill="${fill}"/>`;
    case 'triangle':
      return `<polygon points="${pts(3, rot)}" fill="${fill}"/>`;
    default: {
      const w = r * 0.35;
      return `<g transform="rotate(${((rot * 180) / Math.PI).toFixed(1)} ${cx} ${cy})" fill="${fill}"><rect x="${cx - r}" y="${cy - w}" width="${2 * r}" height="${2 * w}"/><rect x="${cx - w}" y="${cy - r}" width="${2 * w}" height="${2 * r}"/></g>`;
    }
  }
}

/** One image of `shape` in `colour`, with random position, size, rotation, shade and background. */
export async function renderShape(shape: string, colour: string, r: () => number, size = 64): Promise<Buffer> {
  const base = COLOURS[colour];
  if (!base) throw new Error(`unknown colour ${colour}`);
  const j = () => Math.round((r() - 0.5) * 40);
  const fill = `rgb(${base.map((v) => Math.max(0, Math.min(255, v + j()))).join(',')})`;
  const bg = Math.round(90 + r() * 120);
  const rad = size * (0.25 + r() * 0.15);
  const cx = size / 2 + (r() - 0.5) * size * 0.25;
  const cy = size / 2 + (r() - 0.5) * size * 0.25;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="${size}" height="${size}" fill="rgb(${bg},${bg},${bg})"/>${shapeSvg(shape, cx, cy, rad, r() * Math.PI * 2, fill)}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export interface ShapesOptions {
  /** Training images per seen class (default 12), test images per seen class (default 6), images per unseen class (default 10). */
  train?: number;
  test?: number;
  unseenImages?: number;
  unseen?: string[];
  seed?: number;
}

/** Write the dataset (dir must not exist or be empty); returns the class lists. */
export async function writeShapesDataset(dir: string, o: ShapesOptions = {}): Promise<{ seen: string[]; unseen: string[]; classesCsv: string }> {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) throw new Error(`${dir}: already exists and is not empty`);
  const unseen = o.unseen ?? DEFAULT_UNSEEN;
  const r = rng(o.seed ?? 1);
  const all = SHAPES.flatMap((s) => Object.keys(COLOURS).map((c) => `${s}-${c}`));
  const bad = unseen.filter((u) => !all.includes(u));
  if (bad.length) throw new Error(`unknown shape-colour classes: ${bad.join(', ')} (known: ${all.join(', ')})`);
  const seen = all.filter((c) => !unseen.includes(c));
  const write = async (folder: string, cls: string, count: number) => {
    const [shape, colour] = cls.split('-');
    fs.mkdirSync(path.join(folder, cls), { recursive: true });
    for (let i = 0; i < count; i++) fs.writeFileSync(path.join(folder, cls, `${i}.png`), await renderShape(shape, colour, r));
  };
  for (const c of seen) {
    await write(path.join(dir, 'seen', 'train'), c, o.train ?? 12);
    await write(path.join(dir, 'seen', 'test'), c, o.test ?? 6);
  }
  for (const c of unseen) await write(path.join(dir, 'unseen'), c, o.unseenImages ?? 10);
  const colours = Object.keys(COLOURS);
  const header = ['class', ...SHAPES.map((s) => `shape_${s}`), ...colours.map((c) => `colour_${c}`)].join(',');
  const rows = all.map((cls) => {
    const [s, c] = cls.split('-');
    return [cls, ...SHAPES.map((x) => (x === s ? 1 : 0)), ...colours.map((x) => (x === c ? 1 : 0))].join(',');
  });
  const classesCsv = path.join(dir, 'classes.csv');
  fs.writeFileSync(classesCsv, [header, ...rows].join('\n') + '\n');
  return { seen, unseen, classesCsv };
}
