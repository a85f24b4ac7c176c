/**
 * The PNG fast path (src/data/png.ts) against the sharp pipeline it replaces: identical bytes on
 * generated PNGs of every colour type, palettes, colour keys, every filter type and many sizes,
 * through decodeToRgb too (so features stay bit-identical); null (→ sharp) for what it leaves out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodePng, pngToRgbSquash } from '../src/data/png.js';
import { decodeToRgb, sharpRgb, type Preprocess } from '../src/data/decode.js';
import type { Sample } from '../src/data/types.js';

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const squash = (h: number, w: number): Preprocess => ({ size: [h, w], resize: 'squash', mean: [0, 0, 0], std: [1, 1, 1] });
const sampleOf = (bytes: Buffer): Sample => ({ id: 'gen.png', label: 0, split: 'train', kind: 'encoded', load: async () => bytes });

/** Pixels with flat runs, extremes and noise (ringing of the cubic must be clipped the same way). */
function pixels(n: number): Buffer {
  const d = Buffer.alloc(n);
  for (let i = 0; i < n; i++) d[i] = rnd() < 0.3 ? (rnd() < 0.5 ? 0 : 255) : Math.floor(rnd() * 256);
  return d;
}

async function viaSharp(png: Buffer, h: number, w: number): Promise<Buffer> {
  return sharpRgb(sampleOf(png), png, squash(h, w), h, w, 0.875, undefined);
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** A hand-made PNG (8-bit unless `depth`), each row with filter `filters[y % n]`, optional extra chunks. */
function encodePng(w: number, h: number, colour: number, data: Uint8Array, opts: { filters?: number[]; extra?: Buffer[]; depth?: number; interlace?: number } = {}): Buffer {
  const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colour]!;
  const depth = opts.depth ?? 8;
  const stride = Math.ceil((w * ch * depth) / 8);
  const bpp = Math.max(1, (ch * depth) >> 3);
  const filters = opts.filters ?? [0];
  const raw = Buffer.alloc(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = data[y * stride + i]!;
      const a = i >= bpp ? data[y * stride + i - bpp]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + i]! : 0;
      const c = i >= bpp && y > 0 ? data[(y - 1) * stride + i - bpp]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = depth;
  ihdr[9] = colour;
  ihdr[12] = opts.interlace ?? 0;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), ...(opts.extra ?? []), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

test('every colour type and many sizes: the same bytes as sharp, enlarged to several network sizes', async () => {
  const sizes: [number, number][] = [[28, 28], [20, 20], [1, 1], [8, 3], [13, 29], [100, 37], [17, 23], [224, 224], [3, 200]];
  let compared = 0;
  for (const [w, h] of sizes) {
    for (const ch of [1, 2, 3, 4] as const) {
      const img = sharp(pixels(w * h * ch), { raw: { width: w, height: h, channels: ch } });
      const png = await (ch <= 2 ? img.toColourspace('b-w') : img).png().toBuffer();
      assert.equal(decodePng(png)?.channels, ch, `${w}×${h}×${ch} decoded`);
      for (const [H, W] of [[224, 224], [299, 299], [160, 224]] as const) {
        const fast = pngToRgbSquash(png, H, W);
        const ref = await viaSharp(png, H, W);
        if (w > W || h > H) {
          assert.equal(fast, null, 'a shrink is left to sharp');
          continue;
        }
        assert.ok(fast, `${w}×${h}×${ch} → ${H}×${W} covered`);
        assert.ok(fast.equals(ref), `${w}×${h}×${ch} → ${H}×${W}: bytes differ from sharp`);
        compared++;
      }
    }
  }
  assert.ok(compared > 80, `compared ${compared}`);
});

test('palettes (1–8 bits, with and without transparency), colour keys and all five filters', async () => {
  const cases: Buffer[] = [];
  for (const colours of [2, 4, 16, 200]) {
    for (const ch of [3, 4] as const) {
      cases.push(await sharp(pixels(19 * 27 * ch), { raw: { width: 19, height: 27, channels: ch } }).png({ palette: true, colours }).toBuffer());
    }
  }
  const w = 21;
  const h = 14;
  for (const colour of [0, 2, 4, 6]) {
    const ch = { 0: 1, 2: 3, 4: 2, 6: 4 }[colour]!;
    cases.push(encodePng(w, h, colour, pixels(w * h * ch), { filters: [0, 1, 2, 3, 4] }));
  }
  // tRNS colour keys: grey key 0, RGB key (0, 0, 0) — present in the pixels.
  const grey = pixels(w * h);
  cases.push(encodePng(w, h, 0, grey, { extra: [chunk('tRNS', Buffer.from([0, 0]))] }));
  const rgb = pixels(w * h * 3);
  rgb.fill(0, 0, 9);
  cases.push(encodePng(w, h, 2, rgb, { filters: [4, 3], extra: [chunk('tRNS', Buffer.from([0, 0, 0, 0, 0, 0]))] }));
  for (const png of cases) {
    const fast = pngToRgbSquash(png, 224, 224);
    assert.ok(fast, 'covered');
    assert.ok(fast.equals(await viaSharp(png, 224, 224)), `bytes differ from sharp (IHDR colour ${png[25]}, depth ${png[24]})`);
  }
  assert.equal(decodePng(cases.at(-1)!)?.channels, 4, 'an RGB colour key becomes alpha');
});

test('what the fast path leaves to sharp: interlaced, 16-bit, ICC profile, bad CRC, not a PNG', async () => {
  const base = pixels(10 * 10 * 3);
  const ok = encodePng(10, 10, 2, base);
  assert.ok(pngToRgbSquash(ok, 224, 224));
  assert.equal(pngToRgbSquash(encodePng(10, 10, 2, base, { interlace: 1 }), 224, 224), null);
  const png16 = await sharp(pixels(10 * 10 * 3), { raw: { width: 10, height: 10, channels: 3 } }).png().toColourspace('rgb16').toBuffer();
  assert.equal(png16[24], 16);
  assert.equal(pngToRgbSquash(png16, 224, 224), null);
  assert.equal(pngToRgbSquash(encodePng(10, 10, 2, base, { extra: [chunk('iCCP', Buffer.from('x\0\0'))] }), 224, 224), null);
  const bad = Buffer.from(ok);
  bad[bad.length - 20] ^= 1; // inside IDAT: its CRC no longer matches
  assert.equal(pngToRgbSquash(bad, 224, 224), null);
  assert.equal(pngToRgbSquash(Buffer.from('not a png at all'), 224, 224), null);
});

test('decodeToRgb takes the fast path and still gives sharp’s bytes, views included', async () => {
  const png = await sharp(pixels(28 * 28 * 2), { raw: { width: 28, height: 28, channels: 2 } }).png().toBuffer();
  const pre = squash(224, 224);
  const ref = await viaSharp(png, 224, 224);
  assert.ok((await decodeToRgb(sampleOf(png), pre)).equals(ref));
  const flipped = await decodeToRgb(sampleOf(png), pre, 'flip');
  assert.deepEqual([...flipped.subarray(0, 3)], [...ref.subarray(223 * 3, 224 * 3)]);
  // A crop view and center-crop preprocessing go through sharp, unchanged.
  const crop = await decodeToRgb(sampleOf(png), pre, 'crop-tl');
  assert.equal(crop.length, 224 * 224 * 3);
});
