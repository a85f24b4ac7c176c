/**
 * `npm run bench:adapt`: every `graft adapt` method on two offline domain pairs, same splits and
 * seeds — MNIST → MNIST-M-like (digits blended with patches of Debian python3-skimage photos) and
 * MNIST → digits rendered from Debian fonts — printing target accuracy (oracle: target labels are
 * used only here, to score) next to source-only, the method DEV chose without target labels, and
 * the time per method (features cached by a first pass).
 *
 *   npm run bench:adapt -- [--source-per-class 300] [--target-per-class 200] [--seed 0]
 */
import path from 'node:path';
import { adapt, type AdaptResult } from '../src/recipes/adapt.js';
import { args, benchCache } from './common.js';
import { domainPairs } from './domain-pairs.js';

const a = args({ 'source-per-class': { type: 'string', default: '300' }, 'target-per-class': { type: 'string', default: '200' }, seed: { type: 'string', default: '0' } });
const sp = Number(a['source-per-class']);
const tp = Number(a['target-per-class']);
const { source, pairs } = await domainPairs(sp, tp);
const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)}%`);
for (const p of pairs) {
  const out = path.join(benchCache(), 'adapt', `run-${path.basename(p.target)}`);
  const o = { source, target: p.target, out, method: 'all' as const, seed: Number(a.seed) };
  await adapt({ ...o, method: 'source-only' }); // warm the feature store: the timed run below reads cached features
  const r: AdaptResult = await adapt(o);
  const base = r.methods['source-only']!.targetAccuracy!;
  const best = Object.entries(r.methods).reduce((x, y) => (y[1]!.targetAccuracy! > x[1]!.targetAccuracy! ? y : x));
  console.log(`\n${p.name}: source ${r.source.train}/${r.source.val}/${r.source.test} images, target ${r.target.images} (labels used only to score)`);
  console.log('method        target acc   vs source-only   source val   DEV risk   seconds');
  for (const [m, x] of Object.entries(r.methods)) {
    console.log(`${(m + (m === r.chosen ? ' *' : '')).padEnd(13)} ${pct(x!.targetAccuracy).padStart(10)}   ${((x!.targetAccuracy! - base) * 100 >= 0 ? '+' : '') + ((x!.targetAccuracy! - base) * 100).toFixed(1)} pts`.padEnd(45) + `${pct(x!.sourceValAccuracy).padStart(9)}   ${x!.selectionScore!.toFixed(4).padStart(8)}   ${x!.seconds.toFixed(1).padStart(7)}`);
  }
  const chosenAcc = r.methods[r.chosen]!.targetAccuracy!;
  console.log(`best: ${best[0]} (${pct(best[1]!.targetAccuracy)}, +${((best[1]!.targetAccuracy! - base) * 100).toFixed(1)} pts over source-only); auto (DEV) chose ${r.chosen}: ${((best[1]!.targetAccuracy! - chosenAcc) * 100).toFixed(1)} pts below the best`);
  const dd = r.methods.dann!.details.domainAccuracy as number[];
  console.log(`DANN domain-classifier accuracy by epoch: ${dd.map((v) => v.toFixed(2)).join(' ')}`);
}
