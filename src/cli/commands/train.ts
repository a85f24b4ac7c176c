/** `graft train DATA --out DIR`: a head on frozen backbone features (src/recipes/train.ts). */
import { num, str, type Values } from '../args.js';
import { AUDIO, COMMON, DATA, ENGINE, HEAD, MODEL, RUN, SEARCH, trainOpts } from '../options.js';
import { emit, runReport } from '../output.js';
import { defineCommand } from '../spec.js';
import type { TrainResult } from '../../recipes/train.js';

/** Print a train/demo result (shared with graft demo). */
export async function emitTrainResult(res: TrainResult, v: Values): Promise<void> {
  const { formatEvaluation } = await import('../../eval/metrics.js');
  const summary = {
    bundle: res.bundle,
    labels: res.labels,
    backbone: res.backbone,
    data: res.data,
    features: res.features,
    head: res.head,
    val: res.val && { accuracy: res.val.accuracy, macroF1: res.val.macroF1, n: res.val.n },
    test: res.test && { accuracy: res.test.accuracy, macroF1: res.test.macroF1, n: res.test.n, topK: res.test.topK, perClass: res.test.perClass, confusion: res.test.confusion, mostConfused: res.test.mostConfused },
    ...(res.misclassified ? { misclassified: res.misclassified } : {}),
    history: res.history,
    seconds: res.seconds,
    peakRssMB: res.peakRssMB,
    ...(res.report ? { report: res.report } : {}),
    ...('images' in res ? { images: (res as { images: string }).images } : {}),
  };
  emit(!!v.json, summary, () => runReport(res, `trained ${res.head.kind} head on ${res.backbone.name} (${res.backbone.dim}-d features)`, 'features', formatEvaluation));
}

export default defineCommand({
  name: 'train',
  summary: 'train a head on frozen backbone features: DATA/<class>/*.jpg → bundle',
  usage: ['graft train DATA --out DIR [options]', 'graft train DATA --from BUNDLE --freeze all --out DIR'],
  groups: [
    [
      'train options',
      {
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'the bundle folder to write (required)' },
        freeze: { type: 'string', arg: 'all', default: 'all', help: 'the network stays frozen (to unfreeze blocks: graft finetune)' },
        temperature: { type: 'string', arg: 'T', default: 'fitted on val, else 10', help: '--head prototype: softmax temperature of the distances' },
        ...RUN,
      },
    ],
    ['head options', { ...HEAD, ...SEARCH }],
    ['model options', MODEL],
    ['data options', DATA],
    ['audio options', AUDIO],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft train ./photos --out ./model        # ./photos/<class>/*.jpg or ./photos/{train,val,test}/<class>/',
    'graft train ./photos --out ./model --head mlp --search random --trials 12 --report ./model-report',
    'graft train ./digits --from ./tl/source --freeze all --out ./t2   # a bundle\'s network as a frozen backbone',
    'graft train ./five-each --head prototype --val-percent 0 --test-percent 0 --out ./model   # then: graft add-class ./model ./new-class',
  ],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft train DATA --out DIR');
    const freeze = str(v, 'freeze');
    if (freeze !== undefined && freeze !== 'all') {
      throw new Error(`graft train always keeps the whole network frozen (--freeze all); to unfreeze blocks use graft finetune --unfreeze K`);
    }
    const out = str(v, 'out');
    if (!out) throw new Error('graft train needs --out DIR for the bundle');
    const { trainClassifier } = await import('../../recipes/train.js');
    await emitTrainResult(await trainClassifier({ ...trainOpts(v), temperature: num(v, 'temperature'), data: pos[0], out, reporter: r }), v);
  },
});
