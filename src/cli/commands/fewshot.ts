/** `graft fewshot DATA`: N-way K-shot episodes, mean accuracy ± 95% CI per method (src/recipes/fewshot.ts). */
import { list, num, str } from '../args.js';
import { COMMON, ENGINE, MODEL, RUN, engineOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'fewshot',
  summary: 'few-shot evaluation: seeded N-way K-shot episodes, accuracy ± 95% CI per method → report.html',
  usage: ['graft fewshot DATA [--ways 5] [--shots 1,5] [--queries 15] [--episodes 600] [--method proto,knn,logreg,finetune] [--out DIR]'],
  groups: [
    [
      'fewshot options',
      {
        ways: { type: 'string', arg: 'N', default: '5', help: 'classes per episode' },
        shots: { type: 'string', arg: 'K,…', default: '1,5', help: 'support images per class (one table row per value)' },
        queries: { type: 'string', arg: 'Q', default: '15', help: 'query images per class and episode' },
        episodes: { type: 'string', arg: 'E', default: '600', help: 'episodes per shot count' },
        method: { type: 'string', arg: 'm,…', default: 'proto,knn,logreg,finetune', help: 'SimpleShot nearest mean, cosine kNN, logistic regression, fine-tuned head' },
        out: { type: 'string', short: 'o', arg: 'DIR', default: './graft-fewshot', help: 'fewshot.json and report.html' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'episode sampling seed' },
        'knn-k': { type: 'string', arg: 'K', default: '1', help: 'neighbours of the kNN vote' },
        'finetune-steps': { type: 'string', arg: 'N', default: '100', help: 'Adam steps of the fine-tuned head' },
        ...pick(RUN, 'from'),
      },
    ],
    ['model options', pick(MODEL, 'backbone', 'weights')],
    [
      'data options',
      {
        classes: { type: 'string', arg: 'a,b,c', default: 'all', help: 'draw episodes from these classes only' },
        'limit-per-class': { type: 'string', arg: 'N', help: 'at most N images per class' },
      },
    ],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft fewshot ./photos',
    'graft fewshot /usr/share/datasets/fashion-mnist --limit-per-class 100 --shots 1,5 --episodes 300 --json',
  ],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft fewshot DATA [--ways N] [--shots K,…]');
    const { fewShotRecipe } = await import('../../recipes/fewshot.js');
    const { FEWSHOT_METHODS } = await import('../../strategies/fewshot/methods.js');
    const methods = list(v, 'method')?.map((m) => {
      if (!(FEWSHOT_METHODS as readonly string[]).includes(m)) throw new Error(`--method: unknown method "${m}"; known: ${FEWSHOT_METHODS.join(', ')}`);
      return m as (typeof FEWSHOT_METHODS)[number];
    });
    const res = await fewShotRecipe({
      ...engineOpts(v),
      data: pos[0],
      out: str(v, 'out') ?? 'graft-fewshot',
      ways: num(v, 'ways'),
      shots: list(v, 'shots')?.map(Number),
      queries: num(v, 'queries'),
      episodes: num(v, 'episodes'),
      methods,
      seed: num(v, 'seed'),
      knnK: num(v, 'knn-k'),
      finetuneSteps: num(v, 'finetune-steps'),
      backbone: str(v, 'backbone'),
      weights: str(v, 'weights'),
      from: str(v, 'from'),
      classes: list(v, 'classes'),
      limitPerClass: num(v, 'limit-per-class'),
      strict: !!v.strict,
      reporter: r,
    });
    emit(!!v.json, res, () =>
      [
        `${'method'.padEnd(9)} ways shots  accuracy ± 95% CI   episodes  seconds`,
        ...res.results.map((x) => `${x.method.padEnd(9)} ${String(x.ways).padStart(4)} ${String(x.shots).padStart(5)}  ${pct(x.mean).padStart(7)} ± ${(100 * x.ci95).toFixed(2).padStart(5)}    ${String(x.episodes).padStart(8)}  ${x.seconds.toFixed(1).padStart(7)}`),
        `${res.data.images} images, ${res.data.classes} classes; features ${res.features.computed} computed, ${res.features.cached} cached`,
        `report: ${res.report}`,
      ].join('\n'),
    );
  },
});
