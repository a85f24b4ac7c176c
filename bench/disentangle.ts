/**
 * `npm run bench:disentangle`: `graft disentangle` (Domain Separation Networks on MobileNetV2
 * features) on the two offline domain pairs of bench:adapt — MNIST → MNIST-M-like (digits blended
 * with patches of Debian python3-skimage photos) and MNIST → digits rendered from Debian fonts —
 * printing the probes of each code (class on source val, domain balanced) and target accuracy
 * (oracle: target labels only score) next to source-only and DANN on the same rows and seed.
 *
 *   npm run bench:disentangle -- [--source-per-class 300] [--target-per-class 200] [--seeds 0,1]
 */
import os from 'node:os';
import path from 'node:path';
import { disentangle, type DisentangleResult } from '../src/recipes/disentangle.js';
import { args, benchCache } from './common.js';
import { domainPairs } from './domain-pairs.js';

const a = args({ 'source-per-class': { type: 'string', default: '300' }, 'target-per-class': { type: 'string', default: '200' }, seeds: { type: 'string', default: '0,1' } });
const sp = Number(a['source-per-class']);
const tp = Number(a['target-per-class']);
const seeds = String(a.seeds).split(',').map(Number);
const { source, pairs } = await domainPairs(sp, tp);
const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)}%`);
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const ms = (xs: number[]) => `${(100 * mean(xs)).toFixed(1)} ± ${(100 * sd(xs)).toFixed(1)}%`;
console.log(`load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`);
for (const p of pairs) {
  const out = path.join(benchCache(), 'disentangle', `run-${path.basename(p.target)}`);
  await disentangle({ source, target: p.target, out, epochs: 1, baselines: false }); // warm the feature store
  const runs: DisentangleResult[] = [];
  for (const seed of seeds) runs.push(await disentangle({ source, target: p.target, out, seed }));
  const r = runs[0]!;
  console.log(`\n${p.name}: source ${r.source.train}/${r.source.val}/${r.source.test} images, target ${r.targetData.images} (labels used only to score); seeds ${seeds.join(', ')}`);
  console.log('space               class probe (source val)   domain probe (balanced, chance 50%)');
  for (const s of ['backbone', 'shared', 'private'] as const) console.log(`${(s === 'backbone' ? 'backbone features' : `${s} code`).padEnd(20)}${ms(runs.map((x) => x.probes[s].class ?? NaN)).padStart(16)}${ms(runs.map((x) => x.probes[s].domain)).padStart(26)}`);
  console.log(`target accuracy: disentangle ${ms(runs.map((x) => x.targetAccuracy!))}, source-only ${ms(runs.map((x) => x.sourceOnlyTargetAccuracy!))}, DANN ${ms(runs.map((x) => x.dannTargetAccuracy!))}`);
  console.log(`per seed (DSN / source-only / DANN): ${runs.map((x) => `${pct(x.targetAccuracy)} / ${pct(x.sourceOnlyTargetAccuracy)} / ${pct(x.dannTargetAccuracy)}`).join('; ')}; ${mean(runs.map((x) => x.seconds)).toFixed(0)} s per run (three models)`);
}
