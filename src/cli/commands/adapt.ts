/** `graft adapt --source S --target T --out DIR`: domain adaptation to an unlabelled target (src/recipes/adapt.ts). */
import { num, str } from '../args.js';
import { COMMON, DATA, DOMAINS, ENGINE, HEAD, MODEL, dataOpts, engineOpts, modelOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand, pick } from '../spec.js';

export default defineCommand({
  name: 'adapt',
  summary: 'domain adaptation: labelled source folder + unlabelled target folder → adapted bundle (CORAL, AdaBN, DANN, self-training, stacks of them, vs source-only)',
  usage: ['graft adapt --source DIR --target DIR --out DIR [--target-test DIR] [--method auto|all|METHOD[,METHOD…]] [--selection ensv|dev|snd|im|bnm]'],
  groups: [
    [
      'adapt options',
      {
        ...DOMAINS,
        method: {
          type: 'string',
          arg: 'NAME',
          default: 'auto',
          help: 'auto or all (every method, one chosen without target labels), one method, or a comma-separated list to choose among: source-only, coral, dann, self-train, coral+self-train, dann+self-train, adabn, adabn+coral, adabn+self-train, adabn+coral+self-train (adabn*: the whole backbone\u2019s BatchNorm re-estimated per domain)',
        },
        selection: { type: 'string', arg: 'ensv|dev|snd|im|bnm', default: 'ensv', help: 'how auto/all/a list choose without target labels: ensv (agreement with the ensemble of all methods, Hu et al. 2024), snd (soft neighbourhood density), im (information maximisation) or bnm (batch nuclear norm) of the target predictions — highest —, or dev (Deep Embedded Validation, lowest risk)' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'DIR/model (the chosen bundle), DIR/methods/<method>/, adapt.json, report.html (required)' },
        unfreeze: { type: 'string', arg: 'K', default: '0', help: 'K ≥ 1: fine-tune the last K blocks (source-only, Deep CORAL, DANN, AdaBN on the tail); 0: frozen features' },
        epochs: { type: 'string', arg: 'N', default: '6', help: '--unfreeze K: unfrozen epochs (after 2 head-only epochs)' },
        lr: { type: 'string', arg: 'LR', default: '1e-2', help: '--unfreeze K: head learning rate (body: LR/10)' },
        'coral-weight': { type: 'string', arg: 'W', default: '1', help: '--unfreeze K: weight of the Deep CORAL loss' },
        'coral-lambda': { type: 'string', arg: 'L', default: '1', help: 'CORAL: covariance ridge, relative to the mean variance' },
        'dann-hidden': { type: 'string', arg: 'N', default: '256', help: 'DANN: width of the adapter layer over the frozen features' },
        'dann-epochs': { type: 'string', arg: 'N', default: '40', help: 'DANN: epochs over the source rows' },
        'dann-lr': { type: 'string', arg: 'LR', default: '1e-3', help: 'DANN: initial learning rate (annealed as lr/(1+10p)^0.75)' },
        'self-train-rounds': { type: 'string', arg: 'N', default: '6', help: 'self-training: at most N pseudo-labelling rounds' },
        'adabn-images': { type: 'string', arg: 'N', default: '64', help: 'adabn with --unfreeze 0: target images the whole backbone\u2019s BatchNorm statistics are re-estimated on' },
        resume: { type: 'boolean', help: 'continue an interrupted DANN run from DIR/.dann.ckpt' },
      },
    ],
    ['head options', pick(HEAD, 'head', 'hidden', 'dropout', 'weight-decay', 'seed')],
    ['model options', pick(MODEL, 'backbone', 'weights')],
    ['data options', DATA],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft adapt --source ./studio-photos --target ./phone-photos --out ./da',
    'graft adapt --source ./mnist --target ./mnist-m --target-test ./mnist-m-labelled --method all --out ./da --json',
    'graft adapt --source S --target T --unfreeze 1 --method dann --out ./da   # DANN on the fine-tuned last block',
    'graft adapt --source S --target T --method adabn --out ./da               # every BatchNorm of the backbone re-estimated on the target',
    'graft predict ./da/model phone.jpg',
  ],
  async run(pos, v, r) {
    if (pos.length) throw new Error(`graft adapt takes no positional arguments (got ${pos.join(' ')}); use --source DIR --target DIR`);
    const source = str(v, 'source');
    const target = str(v, 'target');
    const out = str(v, 'out');
    if (!source || !target || !out) throw new Error('usage: graft adapt --source DIR --target DIR --out DIR');
    const { adapt, parseMethod } = await import('../../recipes/adapt.js');
    const { CRITERION_NAME, parseSelection } = await import('../../recipes/adapt-select.js');
    const head = str(v, 'head', ['linear', 'mlp'] as const);
    const res = await adapt({
      ...dataOpts(v),
      ...engineOpts(v),
      ...modelOpts(v),
      source,
      target,
      targetTest: str(v, 'target-test'),
      out,
      method: parseMethod(str(v, 'method') ?? 'auto'),
      selection: parseSelection(str(v, 'selection') ?? 'ensv'),
      head,
      hidden: str(v, 'hidden')?.split(',').map(Number),
      dropout: num(v, 'dropout'),
      weightDecay: num(v, 'weight-decay'),
      seed: num(v, 'seed'),
      coralLambda: num(v, 'coral-lambda'),
      unfreeze: num(v, 'unfreeze'),
      epochs: num(v, 'epochs'),
      lr: num(v, 'lr'),
      coralWeight: num(v, 'coral-weight'),
      dannHidden: num(v, 'dann-hidden'),
      dannEpochs: num(v, 'dann-epochs'),
      dannLr: num(v, 'dann-lr'),
      selfTrainRounds: num(v, 'self-train-rounds'),
      adabnImages: num(v, 'adabn-images'),
      resume: !!v.resume,
      reporter: r,
    });
    const json = {
      chosen: res.chosen,
      bundle: res.bundle,
      methods: Object.fromEntries(Object.entries(res.methods).map(([m, x]) => [m, { bundle: x!.bundle, sourceValAccuracy: x!.sourceValAccuracy, selectionScore: x!.selectionScore, devRisk: x!.devRisk, snd: x!.snd, im: x!.im, bnm: x!.bnm, ensv: x!.ensv, targetAccuracy: x!.targetAccuracy, targetEntropy: x!.targetEntropy, seconds: x!.seconds }])),
      selection: res.selection,
      source: res.source,
      target: res.target,
      backbone: res.backbone,
      report: res.report,
      adaptJson: res.adaptJson,
      seconds: res.seconds,
    };
    emit(!!v.json, json, () =>
      [
        `${'method'.padEnd(24)} source val  DEV risk     SND     IM    BNM   EnsV  target (oracle)  seconds`,
        ...Object.entries(res.methods).map(
          ([m, x]) =>
            `${(m + (m === res.chosen ? ' *' : '')).padEnd(24)} ${(x!.sourceValAccuracy === null ? '—' : pct(x!.sourceValAccuracy)).padStart(10)}  ${(x!.devRisk === null ? '—' : x!.devRisk.toFixed(4)).padStart(8)}  ${[x!.snd, x!.im, x!.bnm, x!.ensv ?? NaN].map((v) => (Number.isFinite(v) ? v.toFixed(3) : '—').padStart(6)).join(' ')}  ${(x!.targetAccuracy === null ? '—' : pct(x!.targetAccuracy)).padStart(15)}  ${x!.seconds.toFixed(1).padStart(7)}`,
        ),
        `chosen: ${res.chosen} (${res.selection.chosenBy === 'user' ? 'asked for' : `${res.selection.chosenBy === 'dev' ? 'lowest DEV risk' : `highest ${CRITERION_NAME[res.selection.chosenBy]}`}; no target labels used`})${res.selection.chosenBy !== 'user' ? `; picks: ${Object.entries(res.selection.picks).map(([c, m]) => `${CRITERION_NAME[c as keyof typeof CRITERION_NAME]} ${m ?? '—'}`).join(', ')}` : ''}${res.selection.oracleBest ? `; best by target labels: ${res.selection.oracleBest}` : ''}`,
        `bundle: ${res.bundle}`,
        `report: ${res.report}`,
      ].join('\n'),
    );
  },
});
