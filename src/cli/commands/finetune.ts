/** `graft finetune DATA --out DIR`: the last blocks of a pretrained network + a new head (src/recipes/finetune.ts). */
import { num, str } from '../args.js';
import { AUDIO, COMMON, DATA, ENGINE, MODEL, RUN, SEARCH, fitOpts } from '../options.js';
import { emit, runReport } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'finetune',
  summary: 'fine-tune the last blocks of a pretrained network + a new head (cut activations cached)',
  usage: ['graft finetune DATA --out DIR [--unfreeze K|all | --cut BLOCK] [options]', 'graft finetune DATA --out DIR --resume   # continue an interrupted run'],
  groups: [
    [
      'finetune options',
      {
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'the bundle folder to write (required)' },
        unfreeze: { type: 'string', arg: 'K|all', default: '2', help: 'the last K blocks; all: the whole network, from the pixels (slow)' },
        cut: { type: 'string', arg: 'BLOCK', help: 'instead: everything after this cut point (graft zoo show NAME)' },
        epochs: { type: 'string', arg: 'N', default: '6', help: 'epochs with the tail unfrozen (one-cycle; peaks lr/2, lr-body/2)' },
        'freeze-epochs': { type: 'string', arg: 'N', default: '2', help: 'head-only epochs first (0 skips them)' },
        lr: { type: 'string', arg: 'LR', default: '1e-2', help: 'peak head learning rate' },
        'lr-body': { type: 'string', arg: 'LR', default: 'lr/10', help: 'peak learning rate of the unfrozen blocks' },
        'batch-size': { type: 'string', arg: 'N', default: '32', help: 'minibatch size' },
        'weight-decay': { type: 'string', arg: 'WD', default: '1e-2', help: 'AdamW weight decay' },
        'label-smoothing': { type: 'string', arg: 'E', default: '0', help: 'cross-entropy label smoothing' },
        dropout: { type: 'string', arg: 'P', default: '0.2', help: 'dropout before the new classifier' },
        patience: { type: 'string', arg: 'N', default: '3', help: 'early stopping of the unfrozen stage on val accuracy' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'init and shuffling seed' },
        'train-bn': { type: 'boolean', help: 'the tail\'s BatchNorm layers train (else: inference mode, frozen statistics)' },
        gradual: { type: 'boolean', help: 'ULMFiT: unfreeze one more block per epoch after the head-only epochs' },
        augment: { type: 'string', arg: 'N', default: '1', help: 'N cached views per training image (flip, crops), one per epoch' },
        checkpoint: { type: 'string', arg: 'DIR', default: 'OUT.ckpt', help: 'written every epoch, removed once the bundle is saved' },
        resume: { type: 'boolean', help: 'continue from the checkpoint (e.g. after Ctrl-C), same options' },
        ...RUN,
        ...SEARCH,
      },
    ],
    ['model options', MODEL],
    ['data options', DATA],
    ['audio options', AUDIO],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft finetune ./photos --out ./ft --unfreeze 2',
    'graft finetune ./photos --out ./ft --unfreeze 1 --augment 4 --gradual --report ./ft-report',
    'graft finetune ./photos --out ./ft --resume   # after Ctrl-C: same options, continues from ./ft.ckpt',
  ],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft finetune DATA --out DIR [--unfreeze K]');
    const out = str(v, 'out');
    if (!out) throw new Error('graft finetune needs --out DIR for the bundle');
    const { finetuneClassifier } = await import('../../recipes/finetune.js');
    const { formatEvaluation } = await import('../../eval/metrics.js');
    const res = await finetuneClassifier({
      ...fitOpts(v),
      data: pos[0],
      out,
      unfreeze: v.unfreeze === 'all' ? 'all' : num(v, 'unfreeze'),
      cut: str(v, 'cut'),
      checkpoint: str(v, 'checkpoint'),
      resume: !!v.resume,
      freezeEpochs: num(v, 'freeze-epochs'),
      lrBody: num(v, 'lr-body'),
      trainBn: !!v['train-bn'],
      gradual: !!v.gradual,
      augment: num(v, 'augment'),
      reporter: r,
    });
    const { testProbabilities: _omit, ...summary } = res;
    void _omit;
    emit(!!v.json, summary, () =>
      runReport(res, `fine-tuned ${res.tail.blocks} block(s) of ${res.backbone.name} from ${res.tail.cut} (${res.tail.trainableParams} trainable parameters)`, 'cut activations', formatEvaluation),
    );
  },
});
