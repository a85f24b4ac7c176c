/** `graft predict BUNDLE IMAGE...`: top-k labels with probabilities (src/recipes/predict.ts). */
import { num } from '../args.js';
import { COMMON, ENGINE, engineOpts } from '../options.js';
import { emit, skippedSummary } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'predict',
  summary: 'top-k labels with probabilities for image (or sound) files',
  usage: ['graft predict BUNDLE IMAGE... [--top K] [options]'],
  groups: [
    ['predict options', { top: { type: 'string', arg: 'K', default: '5', help: 'labels listed per image' } }],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: ['graft predict ./model a.jpg b.png', 'graft predict ./model photos/*.jpg --top 1 --json'],
  async run(pos, v, r) {
    if (pos.length < 2) throw new Error('usage: graft predict BUNDLE IMAGE...');
    const { Classifier } = await import('../../recipes/predict.js');
    const clf = await Classifier.load(pos[0], engineOpts(v));
    try {
      const { predictions, skipped } = await clf.predictFiles(pos.slice(1), { topK: num(v, 'top') ?? 5, reporter: r, strict: !!v.strict });
      emit(!!v.json, { predictions, skipped }, () =>
        predictions.map((p) => `${p.file}: ${p.label}  (` + p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ') + ')' + (p.windows ? `  mean of ${p.windows} windows` : '')).join('\n') + skippedSummary(skipped),
      );
      if (!predictions.length) process.exitCode = 1;
    } finally {
      await clf.dispose();
    }
  },
});
