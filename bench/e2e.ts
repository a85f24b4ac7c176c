/**
 * End-to-end feature extraction as a user meets it: whole-process wall time of
 * `graft extract DIR --out x.npy` (fresh feature store, converted model already cached — a user's
 * second day) against a plain PyTorch script doing the same work (bench/peer/torch_e2e.py: PIL
 * decode + bilinear resize + [0,1] + torchvision MobileNetV2, jemalloc, same batch and threads),
 * one after the other in this run, on (a) 2,500 small PNG digits (28×28) and (b) 400 camera-sized
 * JPEGs (800×600, made from Debian's python3-skimage photos). Also the start-up cost (`graft
 * extract` on one image) and graft's per-stage profile (GRAFT_PROFILE).
 *   npm run bench:e2e -- [--threads 2] [--batch 16] [--repeats 1] [--only digits|photos] [--graft OTHER_CHECKOUT] [--baseline OTHER_CHECKOUT]
 * --baseline also times another checkout (e.g. the commit before a change) in the same rounds, so
 * before/after and both ratios come from one run under the same load.
 * Last line: one JSON object with every time and ratio.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { args, benchCache, digitFolder, fmt, photoFolder, PEER, ROOT } from './common.js';

const a = args({ threads: { type: 'string', default: '2' }, batch: { type: 'string', default: '16' }, repeats: { type: 'string', default: '1' }, only: { type: 'string' }, graft: { type: 'string' }, baseline: { type: 'string' } });
const threads = String(a.threads);
const batch = String(a.batch);
const repeats = Number(a.repeats);
const home = path.join(benchCache(), 'e2e-home');
// --graft DIR: time another checkout's bin/graft.js (e.g. the commit before a change) against the same peer.
const GRAFT = path.join(a.graft ? path.resolve(String(a.graft)) : ROOT, 'bin', 'graft.js');
const BASE = a.baseline ? path.join(path.resolve(String(a.baseline)), 'bin', 'graft.js') : undefined;

interface Timed {
  seconds: number;
  profile?: Record<string, unknown>;
  peer?: Record<string, number | string>;
}

/** A fresh GRAFT_HOME whose converted-model cache is the warmed one (hard links: no copy cost). */
function freshHome(): string {
  const h = path.join(benchCache(), 'e2e-run');
  fs.rmSync(h, { recursive: true, force: true });
  fs.mkdirSync(path.join(h, 'onnx'), { recursive: true });
  for (const f of fs.readdirSync(path.join(home, 'onnx'))) fs.linkSync(path.join(home, 'onnx', f), path.join(h, 'onnx', f));
  return h;
}

function runGraft(dir: string, bin = GRAFT): Timed {
  const h = freshHome();
  const prof = path.join(benchCache(), 'e2e-profile.json');
  fs.rmSync(prof, { force: true });
  const out = path.join(benchCache(), 'e2e-graft.npy');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, 'extract', dir, '--out', out, '--format', 'npy', '--threads', threads, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, GRAFT_HOME: h, GRAFT_PROFILE: prof },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`graft extract failed: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { features: { computed: number } };
  if (res.features.computed === 0) throw new Error('graft extract computed nothing: the feature store was not fresh');
  // An older checkout (--graft) may not write a profile.
  return { seconds, profile: fs.existsSync(prof) ? JSON.parse(fs.readFileSync(prof, 'utf8')) : undefined };
}

function runPeerE2e(dir: string): Timed {
  const out = path.join(benchCache(), 'e2e-torch.npy');
  const t0 = performance.now();
  const r = spawnSync(path.join(PEER, 'run_tuned.sh'), ['torch_e2e.py', '--dir', dir, '--out', out, '--threads', threads, '--batch', batch], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`peer torch_e2e.py failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}\nInstall the peers with: bash bench/setup-peers.sh`);
  return { seconds, peer: JSON.parse(r.stdout.trim().split('\n').pop()!) };
}

function best(runs: Timed[]): Timed {
  return runs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
}

function stageLine(p: Record<string, unknown> | undefined): string {
  if (!p) return '';
  const st = p.stages as Record<string, { ms: number; n: number }>;
  const marks = p.marks as Record<string, number>;
  const parts = [`start-up ${fmt((marks.startup ?? 0) / 1000, 2)} s`, ...Object.entries(st).map(([k, v]) => `${k} ${fmt(v.ms / 1000, 2)} s`)];
  const cpu = p.cpuMs as { user: number; system: number };
  return `    graft stages: ${parts.join(', ')}; process CPU ${fmt((cpu.user + cpu.system) / 1000, 1)} s`;
}

// Warm the converted-model cache once (the "second day" state), on one image.
const digits = await digitFolder(250);
const one = path.join(benchCache(), 'e2e-one');
if (!fs.existsSync(one)) {
  fs.mkdirSync(path.join(one, 'a'), { recursive: true });
  const f = fs.readdirSync(path.join(digits, '0'))[0];
  fs.copyFileSync(path.join(digits, '0', f), path.join(one, 'a', f));
}
const warm = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'graft.js'), 'extract', one, '--out', path.join(benchCache(), 'e2e-one.npy'), '--json'], { encoding: 'utf8', env: { ...process.env, GRAFT_HOME: home } });
if (warm.status !== 0) throw new Error(`graft extract (warm-up) failed: ${warm.stderr}`);

const result: Record<string, number> = {};
if (!a.graft) {
  // (Older checkouts cannot extract a one-class folder: no start-up figure for them.)
  const startup = best(Array.from({ length: 3 }, () => runGraft(one)));
  console.log(`start-up: graft extract on 1 image ${fmt(startup.seconds, 2)} s (best of 3)\n${stageLine(startup.profile)}`);
  result.graft_one_image_s = +startup.seconds.toFixed(3);
}

const sets: [string, () => Promise<string>][] = [
  ['digits', async () => digits],
  ['photos', () => photoFolder(400)],
];
for (const [name, make] of sets) {
  if (a.only && a.only !== name) continue;
  const dir = await make();
  const n = fs.readdirSync(dir).filter((c) => !c.startsWith('.')).reduce((s, c) => s + fs.readdirSync(path.join(dir, c)).length, 0);
  const g: Timed[] = [];
  const p: Timed[] = [];
  const base: Timed[] = [];
  for (let i = 0; i < repeats; i++) {
    g.push(runGraft(dir));
    if (BASE) base.push(runGraft(dir, BASE));
    p.push(runPeerE2e(dir));
  }
  const bg = best(g);
  const bp = best(p);
  const peer = bp.peer!;
  console.log(`${name}: ${n} images, batch ${batch}, ${threads} threads (best of ${repeats})`);
  console.log(`  graft extract      ${fmt(bg.seconds, 2)} s   (${fmt(n / bg.seconds)} img/s)`);
  console.log(`  PyTorch ${peer.torch} script ${fmt(bp.seconds, 2)} s   (import ${peer.import_s} s, PIL decode ${peer.decode_s} s, model ${peer.model_s} s, save ${peer.save_s} s)`);
  console.log(`  ratio (PyTorch / graft) ${fmt(bp.seconds / bg.seconds, 2)}`);
  console.log(stageLine(bg.profile));
  if (BASE) {
    const bb = best(base);
    console.log(`  baseline ${a.baseline}: ${fmt(bb.seconds, 2)} s, ratio (PyTorch / baseline) ${fmt(bp.seconds / bb.seconds, 2)}; speed-up ${fmt(bb.seconds / bg.seconds, 2)}×`);
    console.log(stageLine(bb.profile).replace('graft stages', 'baseline stages'));
    Object.assign(result, { [`${name}_baseline_s`]: +bb.seconds.toFixed(2), [`${name}_baseline_ratio`]: +(bp.seconds / bb.seconds).toFixed(2) });
  }
  Object.assign(result, { [`${name}_n`]: n, [`${name}_graft_s`]: +bg.seconds.toFixed(2), [`${name}_pytorch_s`]: +bp.seconds.toFixed(2), [`${name}_ratio`]: +(bp.seconds / bg.seconds).toFixed(2) });
}
console.log(JSON.stringify(result));
