/** `graft compare DATA --out DIR`: transfer vs scratch over label budgets (src/recipes/compare.ts). */
import { list, num, str } from '../args.js';
import { AUDIO, COMMON, DATA, ENGINE, MODEL, RUN, dataOpts, engineOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'compare',
  summary: 'transfer vs scratch over label budgets (images per class) → compare.json, report.html + plots',
  usage: ['graft compare DATA --out DIR [--budgets 5,10,25,50,100,all] [--repeats 3] [--methods scratch,linear,finetune]'],
  groups: [
    [
      'compare options',
      {
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'compare.json (finished runs, reused on a rerun), report.html, plots (required)' },
        budgets: { type: 'string', arg: 'N,…|all', default: '5,10,25,50,100,all', help: 'labelled images per class (all: the whole train split)' },
        repeats: { type: 'string', arg: 'N', default: '3', help: 'seeds per point' },
        methods: { type: 'string', arg: 'm,…', default: 'scratch,linear,finetune', help: 'a small CNN from scratch, a linear head, a fine-tuned tail' },
        unfreeze: { type: 'string', arg: 'K', default: '1', help: 'blocks the finetune method unfreezes' },
        'scratch-size': { type: 'string', arg: 'N', default: '32', help: 'input size (pixels) of the scratch CNN' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'first seed (repeats use seed, seed+1, …)' },
        ...pick(RUN, 'from'),
      },
    ],
    ['model options', pick(MODEL, 'backbone', 'weights')],
    ['data options', DATA],
    ['audio options', AUDIO],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft compare ./photos --out ./study', 'graft compare ./digits --test-percent 20 --budgets 5,25,all --repeats 2 --methods linear,finetune --out ./study'],
  async run(pos, v, r) {
    const out = str(v, 'out');
    if (pos.length !== 1 || !out) throw new Error('usage: graft compare DATA --out DIR [--budgets 5,25,all] [--repeats N]');
    const { compareRecipe, COMPARE_METHODS } = await import('../../recipes/compare.js');
    const budgets = list(v, 'budgets')?.map((b) => {
      if (b === 'all') return 'all' as const;
      const n = Number(b);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--budgets: "${b}" is not a positive integer or "all"`);
      return n;
    });
    const methods = list(v, 'methods')?.map((m) => {
      if (!(COMPARE_METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method "${m}"; known: ${COMPARE_METHODS.join(', ')}`);
      return m as (typeof COMPARE_METHODS)[number];
    });
    const res = await compareRecipe({
      ...dataOpts(v),
      ...engineOpts(v),
      data: pos[0],
      out,
      budgets,
      methods,
      repeats: num(v, 'repeats'),
      backbone: str(v, 'backbone'),
      weights: str(v, 'weights'),
      from: str(v, 'from'),
      unfreeze: num(v, 'unfreeze'),
      scratchSize: num(v, 'scratch-size'),
      seed: num(v, 'seed'),
      reporter: r,
    });
    const { runs: _runs, ...summary } = res;
    void _runs;
    emit(!!v.json, summary, () =>
      [
        `${'method'.padEnd(9)} ${'budget'.padStart(6)}  accuracy (mean ± std)   seconds`,
        ...res.points.map((p) => `${p.method.padEnd(9)} ${p.label.padStart(6)}  ${pct(p.accuracy).padStart(7)} ± ${(100 * p.std).toFixed(2).padStart(5)}      ${p.seconds.toFixed(1).padStart(6)}`),
        `report: ${res.report}`,
      ].join('\n'),
    );
  },
});
