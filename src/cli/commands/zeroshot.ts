/** `graft zeroshot --seen DIR --classes classes.csv --out DIR`: classes described, not shown (src/recipes/zeroshot.ts). */
import { num, str } from '../args.js';
import { COMMON, ENGINE, MODEL, engineOpts } from '../options.js';
import { emit, pct, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'zeroshot',
  summary: 'zero-shot classifier: images of seen classes + attributes (or embeddings) of all → bundle over every class',
  usage: [
    'graft zeroshot --seen DIR --classes classes.csv --out DIR [--method eszsl|sae]',
    'graft zeroshot --seen DIR --class-embeddings emb.npy --class-names names.txt --out DIR',
  ],
  groups: [
    [
      'zeroshot options',
      {
        seen: { type: 'string', arg: 'DIR', help: 'images of the seen classes, DIR/<class>/ (a DIR/test/ folder is kept out) (required)' },
        classes: { type: 'string', arg: 'CSV', help: 'class,attr1,attr2,… one row per class, seen and unseen (binary or real)' },
        'class-embeddings': { type: 'string', arg: 'NPY', help: 'float32 [classes, dims] class vectors (word2vec, a text encoder, …)' },
        'class-names': { type: 'string', arg: 'TXT', help: 'the class of each embedding row, one per line' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'the bundle folder to write, with report.html (required)' },
        method: { type: 'string', arg: 'eszsl|sae|bilinear', default: 'eszsl', help: 'ESZSL (Romera-Paredes & Torr 2015), SAE (Kodirov et al. 2017): closed forms; bilinear: x·W·s trained with the Trainer' },
        gamma: { type: 'string', arg: 'G', default: 'chosen on held-out seen classes', help: 'ESZSL feature-side regulariser' },
        lambda: { type: 'string', arg: 'L', default: 'chosen on held-out seen classes', help: 'ESZSL attribute-side / SAE / bilinear L2 regulariser' },
        folds: { type: 'string', arg: 'N', default: '3', help: 'class-disjoint folds of the seen classes for the choice' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'fold assignment seed' },
        'limit-per-class': { type: 'string', arg: 'N', help: 'at most N images per seen class' },
      },
    ],
    ['model options', pick(MODEL, 'backbone', 'weights')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft zeroshot --seen ./photos --classes classes.csv --out ./zsl',
    'graft predict ./zsl new.jpg                       # can answer a class that had no training image',
    'graft eval ./zsl ./unseen-labelled --gzsl ./photos/test',
  ],
  async run(pos, v, r) {
    const seen = str(v, 'seen');
    const out = str(v, 'out');
    if (pos.length !== 0 || !seen || !out) throw new Error('usage: graft zeroshot --seen DIR --classes classes.csv --out DIR');
    const { zeroShotRecipe } = await import('../../recipes/zeroshot.js');
    const res = await zeroShotRecipe({
      ...engineOpts(v),
      seen,
      out,
      classTable: str(v, 'classes'),
      classEmbeddings: str(v, 'class-embeddings'),
      classNames: str(v, 'class-names'),
      method: str(v, 'method', ['eszsl', 'sae', 'bilinear'] as const),
      gamma: num(v, 'gamma'),
      lambda: num(v, 'lambda'),
      folds: num(v, 'folds'),
      seed: num(v, 'seed'),
      limitPerClass: num(v, 'limit-per-class'),
      backbone: str(v, 'backbone'),
      weights: str(v, 'weights'),
      strict: !!v.strict,
      reporter: r,
    });
    emit(!!v.json, res, () =>
      [
        `${res.method}: ${res.seen.length} seen, ${res.unseen.length} unseen classes (${res.unseen.join(', ') || 'none'}), ${res.attributes} attributes, ${res.data.images} images`,
        `regularisers ${JSON.stringify(res.regularisers)}: held-out seen classes ${pct(res.selection.accuracy)} (chance ${pct(res.selection.chance)})`,
        `calibrated stacking γ ${res.calibration.gamma.toPrecision(3)} (folds: S ${pct(res.calibration.s)}, U ${pct(res.calibration.u)}, H ${pct(res.calibration.h)}); temperature ${res.temperature.toPrecision(3)}`,
        `bundle: ${res.bundle}   report: ${res.report}`,
      ].join('\n') + skippedSummary(res.data.skipped),
    );
  },
});
