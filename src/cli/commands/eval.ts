/** `graft eval BUNDLE DATA`: accuracy, per-class P/R/F1, confusion matrix (src/recipes/evaluate.ts). */
import { COMMON, DATA, ENGINE, dataOpts, engineOpts } from '../options.js';
import { emit, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'eval',
  summary: 'a bundle against a labelled folder: accuracy, top-k, per-class P/R/F1, confusion matrix',
  usage: ['graft eval BUNDLE DATA [options]   # DATA/test/ when it has one, else every image of DATA'],
  groups: [
    ['data options', pick(DATA, 'classes', 'limit-per-class')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft eval ./model ./photos/test', 'graft eval ./model ./more-photos --classes cat,dog --json'],
  async run(pos, v, r) {
    if (pos.length !== 2) throw new Error('usage: graft eval BUNDLE DATA');
    const { evaluateBundle } = await import('../../recipes/evaluate.js');
    const { formatEvaluation } = await import('../../eval/metrics.js');
    const res = await evaluateBundle(pos[0], pos[1], { ...dataOpts(v), ...engineOpts(v), reporter: r });
    emit(!!v.json, res, () => formatEvaluation(res) + skippedSummary(res.skipped));
  },
});
