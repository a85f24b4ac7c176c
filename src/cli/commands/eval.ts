/** `graft eval BUNDLE DATA`: accuracy, per-class P/R/F1, confusion matrix (src/recipes/evaluate.ts). */
import { COMMON, DATA, ENGINE, dataOpts, engineOpts } from '../options.js';
import { str } from '../args.js';
import { emit, pct, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'eval',
  summary: 'a bundle against a labelled folder: accuracy, top-k, per-class P/R/F1, confusion matrix',
  usage: ['graft eval BUNDLE DATA [options]   # DATA/test/ when it has one, else every image of DATA', 'graft eval ZSL_BUNDLE UNSEEN_DIR [--gzsl SEEN_TEST]'],
  groups: [
    ['zero-shot options', { gzsl: { type: 'string', arg: 'SEEN_TEST', help: 'zero-shot bundle: also score seen-class test images among all classes (S, U, H)' } }],
    ['data options', pick(DATA, 'classes', 'limit-per-class')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft eval ./model ./photos/test', 'graft eval ./model ./more-photos --classes cat,dog --json', 'graft eval ./zsl ./unseen --gzsl ./seen/test   # ZSL among the folder\'s classes; GZSL S, U, H'],
  async run(pos, v, r) {
    if (pos.length !== 2) throw new Error('usage: graft eval BUNDLE DATA');
    const { evaluateBundle } = await import('../../recipes/evaluate.js');
    const { formatEvaluation } = await import('../../eval/metrics.js');
    const res = await evaluateBundle(pos[0], pos[1], { ...dataOpts(v), ...engineOpts(v), gzsl: str(v, 'gzsl'), reporter: r });
    const zsl = res as typeof res & { perClassMeanAccuracy?: number; chance?: number; seen?: number; unseen?: number; h?: number };
    const extra = [
      zsl.perClassMeanAccuracy !== undefined ? `zero-shot: per-class mean accuracy ${pct(zsl.perClassMeanAccuracy)} among the folder's ${res.labels.length} classes (chance ${pct(zsl.chance)})` : '',
      zsl.h !== undefined ? `generalised: seen ${pct(zsl.seen)}  unseen ${pct(zsl.unseen)}  H ${pct(zsl.h)}` : '',
    ].filter(Boolean);
    emit(!!v.json, res, () => formatEvaluation(res) + (extra.length ? '\n' + extra.join('\n') : '') + skippedSummary(res.skipped));
  },
});
