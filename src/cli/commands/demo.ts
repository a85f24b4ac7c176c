/** `graft demo`: offline MNIST digits from the mnist package, trained like graft train (src/recipes/demo.ts). */
import { num, str } from '../args.js';
import { COMMON, DATA, ENGINE, HEAD, MODEL, RUN, SEARCH, trainOpts } from '../options.js';
import { defineCommand, withDefaults } from '../spec.js';
import { emitTrainResult } from './train.js';

export default defineCommand({
  name: 'demo',
  summary: 'offline demo: MNIST digits from the mnist package → a trained, evaluated bundle',
  usage: ['graft demo [--out DIR] [--per-class N] [options]'],
  groups: [
    [
      'demo options',
      {
        out: { type: 'string', short: 'o', arg: 'DIR', default: '$GRAFT_HOME/demo/model', help: 'the bundle folder to write' },
        'per-class': { type: 'string', arg: 'N', default: '200', help: 'digits per class written as PNG files to $GRAFT_HOME/demo/' },
        ...RUN,
      },
    ],
    ['head options', { ...HEAD, ...SEARCH }],
    ['model options', MODEL],
    ['data options', withDefaults(DATA, { 'test-percent': '20', classes: '0,1,…,9' })],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft demo', 'graft demo --per-class 50 --head mlp --out /tmp/digits-model'],
  async run(_pos, v, r) {
    const { runDemo } = await import('../../recipes/demo.js');
    await emitTrainResult(await runDemo({ ...trainOpts(v), out: str(v, 'out'), perClass: num(v, 'per-class'), reporter: r }), v);
  },
});
