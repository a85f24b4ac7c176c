/**
 * `npm run bench:adapt`: `graft adapt` methods on offline domain pairs, same splits and seeds —
 * MNIST → MNIST-M-like (digits blended with patches of Debian python3-skimage photos), MNIST →
 * digits rendered from Debian fonts, MNIST → blurred inverted MNIST — printing target accuracy
 * (oracle: target labels are used only here, to score) next to source-only, what DEV, SND,
 * IM, BNM and EnsV choose without target labels (and how far below the best that is), and the time per method
 * (features cached by a first pass).
 *
 *   npm run bench:adapt -- [--source-per-class 300] [--target-per-class 200] [--seed 0]
 *                          [--pairs mnist-m,fonts,inverted] [--methods all | m1,m2,…]
 */
import path from 'node:path';
import { adapt, parseMethod, type AdaptResult } from '../src/recipes/adapt.js';
import { args, benchCache } from './common.js';
import { CRITERION_NAME as NAME, SELECTIONS } from '../src/recipes/adapt-select.js';
import { domainPairs, PAIR_KEYS, type PairKey } from './domain-pairs.js';

const a = args({
  'source-per-class': { type: 'string', default: '300' },
  'target-per-class': { type: 'string', default: '200' },
  seed: { type: 'string', default: '0' },
  pairs: { type: 'string', default: PAIR_KEYS.join(',') },
  methods: { type: 'string', default: 'all' },
});
const sp = Number(a['source-per-class']);
const tp = Number(a['target-per-class']);
const method = parseMethod(a.methods);
const { source, pairs } = await domainPairs(sp, tp, a.pairs.split(',') as PairKey[]);
const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)}%`);
const pts = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;
const f4 = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(4));
const TAG = { dev: 'D', snd: 'S', im: 'I', bnm: 'B', ensv: 'E' } as const;
const agree = { dev: 0, snd: 0, im: 0, bnm: 0, ensv: 0 };
const within2 = { dev: 0, snd: 0, im: 0, bnm: 0, ensv: 0 };
for (const p of pairs) {
  const out = path.join(benchCache(), 'adapt', `run-${path.basename(p.target)}`);
  const o = { source, target: p.target, out, method, seed: Number(a.seed) };
  await adapt({ ...o, method: 'source-only' }); // warm the feature store: the timed run below reads cached features
  const r: AdaptResult = await adapt(o);
  const base = r.methods['source-only']?.targetAccuracy ?? null;
  console.log(`\n${p.name}: source ${r.source.train}/${r.source.val}/${r.source.test} images, target ${r.target.images} (labels used only to score)`);
  console.log(`${'method'.padEnd(28)} target acc  vs source-only  source val  DEV risk (w̄)          SND      IM     BNM    EnsV   seconds`);
  for (const [m, x] of Object.entries(r.methods)) {
    const tag = [...SELECTIONS.map((c) => (m === r.selection.picks[c] ? TAG[c] : '')), m === r.selection.oracleBest ? 'best' : ''].filter(Boolean).join(',');
    const vs = base === null ? '—' : `${pts(100 * (x!.targetAccuracy! - base))} pts`;
    const w = `(${x!.devMeanWeight?.toPrecision(2) ?? '—'})`;
    console.log(`${(m + (tag ? ` [${tag}]` : '')).padEnd(28)} ${pct(x!.targetAccuracy).padStart(10)}  ${vs.padStart(14)}  ${pct(x!.sourceValAccuracy).padStart(10)}  ${f4(x!.devRisk).padStart(8)} ${w.padEnd(9)}  ${f4(x!.snd).padStart(7)} ${f4(x!.im).padStart(7)} ${f4(x!.bnm).padStart(7)} ${f4(x!.ensv).padStart(7)}  ${x!.seconds.toFixed(1).padStart(7)}`);
  }
  const s = r.selection;
  const best = s.oracleBest!;
  const gain = base === null ? '' : `, ${pts(100 * (r.methods[best]!.targetAccuracy! - base))} pts over source-only`;
  console.log(`best (oracle): ${best} (${pct(r.methods[best]!.targetAccuracy)}${gain}); ${SELECTIONS.map((c) => `${NAME[c]} chose ${s.picks[c]} (${s.belowBest![c].toFixed(1)} pts below)`).join('; ')}`);
  for (const c of SELECTIONS) {
    if (s.oracleAgreement![c]) agree[c]++;
    if (s.belowBest![c] <= 2) within2[c]++;
  }
  const dd = r.methods.dann?.details.domainAccuracy as number[] | undefined;
  if (dd) console.log(`DANN domain-classifier accuracy by epoch: ${dd.map((v) => v.toFixed(2)).join(' ')}`);
}
console.log(`\npicked the oracle-best method: ${SELECTIONS.map((c) => `${NAME[c]} ${agree[c]}/${pairs.length}`).join(', ')}; within 2 points of it: ${SELECTIONS.map((c) => `${NAME[c]} ${within2[c]}/${pairs.length}`).join(', ')}`);
