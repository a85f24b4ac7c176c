/** `graft lr-find DATA`: the LR range test for an MLP head or the fine-tuning network (src/recipes/lr-find.ts). */
import { list, num, str } from '../args.js';
import { COMMON, DATA, ENGINE, MODEL, RUN, fitOpts } from '../options.js';
import { emit } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'lr-find',
  summary: 'LR range test (Smith; fastai lr_find) for an MLP head or the fine-tuning network: plot + suggestion',
  usage: ['graft lr-find DATA [--plot FILE.png] [--unfreeze K | --cut BLOCK] [options]'],
  groups: [
    [
      'lr-find options',
      {
        plot: { type: 'string', arg: 'FILE.png', help: 'write the loss-vs-learning-rate plot here' },
        steps: { type: 'string', arg: 'N', default: '100', help: 'minibatches while the LR grows exponentially from 1e-7 to 10 (stops on divergence)' },
        unfreeze: { type: 'string', arg: 'K', help: 'test the network of graft finetune --unfreeze K instead of an MLP head' },
        cut: { type: 'string', arg: 'BLOCK', help: 'test the network of graft finetune --cut BLOCK instead of an MLP head' },
        hidden: { type: 'string', arg: 'N[,N…]', default: '512', help: 'MLP head: hidden layer widths' },
        dropout: { type: 'string', arg: 'P', default: '0.5', help: 'MLP head: dropout' },
        'batch-size': { type: 'string', arg: 'N', default: 'MLP head: 64, --unfreeze/--cut: 32', help: 'minibatch size' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'init and shuffling seed' },
        ...pick(RUN, 'from'),
      },
    ],
    ['model options', MODEL],
    ['data options', DATA],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft lr-find ./photos --plot lr.png', 'graft lr-find ./photos --unfreeze 2 --plot lr-ft.png   # then: graft finetune ./photos --lr …'],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft lr-find DATA [--plot FILE.png]');
    const { lrFindRecipe } = await import('../../recipes/lr-find.js');
    const unfreeze = num(v, 'unfreeze');
    const hidden = list(v, 'hidden')?.map(Number);
    const res = await lrFindRecipe({ ...fitOpts(v), hidden, data: pos[0], plot: str(v, 'plot'), steps: num(v, 'steps'), unfreeze, cut: str(v, 'cut'), reporter: r });
    const out = { suggested: res.suggested, steepest: res.steepest, minimumOver10: res.minimumOver10, diverged: res.diverged, plot: res.plot, images: res.images, points: res.lrs.map((lr, i) => ({ lr, loss: res.losses[i] })) };
    emit(!!v.json, out, () => `suggested learning rate ${res.suggested.toExponential(2)} (steepest descent; minimum/10: ${res.minimumOver10.toExponential(2)})` + (res.plot ? `\nplot: ${res.plot}` : ''));
  },
});
