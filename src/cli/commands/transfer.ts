/** `graft transfer --source DATA --target DATA --out DIR`: the two-stage recipe (src/recipes/transfer.ts). */
import { list, num, str } from '../args.js';
import { COMMON, DATA, ENGINE, MODEL, engineOpts, modelOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'transfer',
  summary: 'the two-stage recipe: fine-tune on a source dataset, freeze it, new head on the target',
  usage: ['graft transfer --source DATA --target DATA --out DIR [--target-classes a,b] [--source-unfreeze K] [--baseline]'],
  groups: [
    [
      'transfer options',
      {
        source: { type: 'string', arg: 'DATA', help: 'stage 1: the dataset the network is fine-tuned on (required)' },
        target: { type: 'string', arg: 'DATA', help: 'stage 2: the dataset the new head is trained on (required)' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'writes DIR/source/, DIR/target/ (+ baseline/), transfer.json, report.html (required)' },
        'source-classes': { type: 'string', arg: 'a,b,c', default: 'every class', help: 'source classes used' },
        'target-classes': { type: 'string', arg: 'a,b,c', default: 'every class', help: 'target classes used' },
        'source-limit-per-class': { type: 'string', arg: 'N', help: 'at most N source images per class' },
        'target-limit-per-class': { type: 'string', arg: 'N', help: 'at most N target images per class' },
        'source-unfreeze': { type: 'string', arg: 'K', default: '2', help: 'blocks fine-tuned on the source (graft finetune --unfreeze)' },
        'source-epochs': { type: 'string', arg: 'N', default: '6', help: 'source epochs with the tail unfrozen' },
        'source-freeze-epochs': { type: 'string', arg: 'N', default: '2', help: 'source head-only epochs first' },
        'source-lr': { type: 'string', arg: 'LR', default: '1e-2', help: 'source peak head learning rate (body: lr/10)' },
        head: { type: 'string', arg: 'linear|mlp', default: 'linear', help: 'the target head (linear: L2 picked on validation)' },
        baseline: { type: 'boolean', help: "also the same head on the pretrained backbone's own features, for reference" },
        resume: { type: 'boolean', help: 'continue an interrupted source stage from its per-epoch checkpoint (OUT/source.ckpt)' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'seed of both stages' },
      },
    ],
    ['model options', MODEL],
    ['data options (both stages)', pick(DATA, 'val-percent', 'test-percent')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft transfer --source ./fashion --target ./digits --target-classes 0,1,2,3,4 --out ./tl --baseline',
    'graft transfer --source ./fashion --source-limit-per-class 300 --target ./digits --out ./tl --source-unfreeze 1',
  ],
  async run(pos, v, r) {
    const source = str(v, 'source');
    const target = str(v, 'target');
    const out = str(v, 'out');
    if (pos.length || !source || !target || !out) throw new Error('usage: graft transfer --source DATA --target DATA --out DIR [--target-classes a,b,c]');
    const { transferRecipe } = await import('../../recipes/transfer.js');
    const res = await transferRecipe({
      source,
      target,
      out,
      sourceClasses: list(v, 'source-classes'),
      targetClasses: list(v, 'target-classes'),
      sourceLimitPerClass: num(v, 'source-limit-per-class'),
      targetLimitPerClass: num(v, 'target-limit-per-class'),
      ...modelOpts(v),
      sourceUnfreeze: num(v, 'source-unfreeze'),
      sourceEpochs: num(v, 'source-epochs'),
      sourceFreezeEpochs: num(v, 'source-freeze-epochs'),
      sourceLr: num(v, 'source-lr'),
      targetHead: str(v, 'head', ['linear', 'mlp'] as const),
      baseline: !!v.baseline,
      resume: !!v.resume,
      valPercent: num(v, 'val-percent'),
      testPercent: num(v, 'test-percent'),
      seed: num(v, 'seed'),
      strict: !!v.strict,
      ...engineOpts(v),
      reporter: r,
    });
    const { runs: _runs, ...summary } = res;
    void _runs;
    const line = (name: string, s: typeof res.source) =>
      `${name.padEnd(8)} ${s.labels.length} classes, ${s.images.train}/${s.images.val}/${s.images.test} images  val ${pct(s.val?.accuracy)}  test ${pct(s.test?.accuracy)}  ${s.seconds.toFixed(1)} s  → ${s.bundle}`;
    emit(!!v.json, summary, () =>
      [line('source', res.source), line('target', res.target), res.baseline ? line('baseline', res.baseline) : '', `summary: ${res.summary}`].filter(Boolean).join('\n'),
    );
  },
});
