/**
 * `npx tsx bench/adapt-criteria.ts RUN_DIR…`: re-score a finished `graft adapt` run (an OUT
 * directory with adapt.json and target-probabilities/) by every selection criterion, from the
 * target probabilities the run wrote — DEV comes from adapt.json (it needs the representations) —
 * and print each criterion's pick next to the oracle best (target labels: scoring only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { batchNuclearNorm, ensembleAgreement, informationMaximization, meanEntropy, softNeighbourhoodDensity } from '../src/strategies/adapt/selection.js';
import { CRITERION_NAME, SELECTIONS, type Selection } from '../src/recipes/adapt-select.js';

const f32 = (f: string) => new Float32Array(new Uint8Array(fs.readFileSync(f)).buffer);
const within2: Record<Selection, number> = { dev: 0, snd: 0, im: 0, bnm: 0, ensv: 0 };
const dirs = process.argv.slice(2);
if (!dirs.length) throw new Error('usage: tsx bench/adapt-criteria.ts RUN_DIR…');
for (const dir of dirs) {
  const res = JSON.parse(fs.readFileSync(path.join(dir, 'adapt.json'), 'utf8')) as { methods: Record<string, { targetAccuracy: number | null; devRisk: number | null }> };
  const methods = Object.keys(res.methods);
  const probs = methods.map((m) => f32(path.join(dir, 'target-probabilities', `${m}.f32`)));
  const n = (JSON.parse(fs.readFileSync(path.join(dir, 'adapt.json'), 'utf8')) as { target: { images: number } }).target.images;
  const k = probs[0]!.length / n;
  const ens = ensembleAgreement(probs, n, k);
  const score: Record<Selection, number[]> = {
    dev: methods.map((m) => res.methods[m]!.devRisk ?? NaN),
    snd: probs.map((p) => softNeighbourhoodDensity(p, n, k)),
    im: probs.map((p) => informationMaximization(p, n, k)),
    bnm: probs.map((p) => batchNuclearNorm(p, n, k)),
    ensv: ens,
  };
  const acc = methods.map((m) => res.methods[m]!.targetAccuracy ?? NaN);
  const best = acc.indexOf(Math.max(...acc));
  console.log(`\n${dir}: ${methods.length} methods, ${n} target rows, ${k} classes`);
  console.log(`${'method'.padEnd(24)} target (oracle)     DEV     SND      IM     BNM    EnsV  entropy`);
  methods.forEach((m, i) =>
    console.log(`${m.padEnd(24)} ${(100 * acc[i]!).toFixed(1).padStart(14)}%  ${SELECTIONS.map((c) => score[c][i]!.toFixed(4).padStart(7)).join(' ')}  ${meanEntropy(probs[i]!, n, k).toFixed(3).padStart(7)}`),
  );
  for (const c of SELECTIONS) {
    const s = score[c];
    let pick = -1;
    for (let i = 0; i < s.length; i++) if (Number.isFinite(s[i]!) && (pick < 0 || (c === 'dev' ? s[i]! < s[pick]! : s[i]! > s[pick]!))) pick = i;
    const below = 100 * (acc[best]! - acc[pick]!);
    if (below <= 2) within2[c]++;
    console.log(`${CRITERION_NAME[c].padEnd(5)} picks ${methods[pick]} (${(100 * acc[pick]!).toFixed(1)}%, ${below.toFixed(1)} pts below the oracle best ${methods[best]})`);
  }
}
console.log(`\nwithin 2 points of the oracle best: ${SELECTIONS.map((c) => `${CRITERION_NAME[c]} ${within2[c]}/${dirs.length}`).join(', ')}`);
