/** `graft disentangle --source S --target T --out DIR`: shared and private features, Domain Separation Networks (src/recipes/disentangle.ts). */
import { num, str } from '../args.js';
import { COMMON, DATA, DOMAINS, ENGINE, MODEL, dataOpts, engineOpts, modelOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'disentangle',
  summary: 'feature disentanglement: shared (domain-invariant) and private codes of a labelled source and an unlabelled target (Domain Separation Networks)',
  usage: ['graft disentangle --source DIR --target DIR --out DIR [--target-test DIR]'],
  groups: [
    [
      'disentangle options',
      {
        ...DOMAINS,
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'DIR/model (classifies from the shared code), disentangle.json, report.html (required)' },
        hidden: { type: 'string', arg: 'N', default: '256', help: 'width of the encoders\u2019 and decoder\u2019s hidden layer' },
        code: { type: 'string', arg: 'N', default: '64', help: 'width of the shared and private codes' },
        dropout: { type: 'string', arg: 'P', default: '0', help: 'dropout on the shared encoder' },
        epochs: { type: 'string', arg: 'N', default: '40', help: 'epochs over the source rows' },
        lr: { type: 'string', arg: 'LR', default: '1e-3', help: 'initial learning rate (annealed as lr/(1+10p)^0.75)' },
        'weight-decay': { type: 'string', arg: 'W', help: 'AdamW weight decay (default 0.05)' },
        'recon-weight': { type: 'string', arg: 'A', default: '0.1', help: 'α: scale-invariant reconstruction loss' },
        'difference-weight': { type: 'string', arg: 'B', default: '0.1', help: 'β: difference (soft orthogonality) loss between shared and private codes' },
        'similarity-weight': { type: 'string', arg: 'G', default: '1', help: 'γ: similarity loss of the two domains\u2019 shared codes (MMD² or the DANN domain loss)' },
        'similarity-loss': { type: 'string', arg: 'mmd|dann', default: 'mmd', help: 'how the shared codes of the two domains are made alike: kernel MMD, or gradient reversal into a discriminator (dann)' },
        'no-baselines': { type: 'boolean', help: 'skip training source-only and DANN for comparison (they run only when target labels exist)' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'seed for splits, initialisation and batches' },
        resume: { type: 'boolean', help: 'continue an interrupted run from DIR/.dsn.ckpt' },
      },
    ],
    ['model options', MODEL],
    ['data options', DATA],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft disentangle --source ./renders --target ./photos --out ./dsn',
    'graft disentangle --source ./mnist --target ./mnist-m --target-test ./mnist-m-labelled --out ./dsn --json',
    'graft predict ./dsn/model photo.jpg',
  ],
  async run(pos, v, r) {
    if (pos.length) throw new Error(`graft disentangle takes no positional arguments (got ${pos.join(' ')}); use --source DIR --target DIR`);
    const source = str(v, 'source');
    const target = str(v, 'target');
    const out = str(v, 'out');
    if (!source || !target || !out) throw new Error('usage: graft disentangle --source DIR --target DIR --out DIR (a single domain cannot be disentangled: give both)');
    const { disentangle } = await import('../../recipes/disentangle.js');
    const res = await disentangle({
      ...dataOpts(v),
      ...engineOpts(v),
      ...modelOpts(v),
      source,
      target,
      targetTest: str(v, 'target-test'),
      out,
      hidden: num(v, 'hidden'),
      code: num(v, 'code'),
      dropout: num(v, 'dropout'),
      epochs: num(v, 'epochs'),
      lr: num(v, 'lr'),
      weightDecay: num(v, 'weight-decay'),
      recon: num(v, 'recon-weight'),
      difference: num(v, 'difference-weight'),
      similarity: num(v, 'similarity-weight'),
      similarityLoss: str(v, 'similarity-loss', ['dann', 'mmd'] as const),
      baselines: !v['no-baselines'],
      seed: num(v, 'seed'),
      resume: !!v.resume,
      reporter: r,
    });
    const { history, target: evaluation, ...rest } = res;
    const json = { ...rest, epochs: history.length, targetEvaluation: evaluation };
    const p = (x: number | null) => (x === null ? '—' : pct(x));
    emit(!!v.json, json, () =>
      [
        `${'space'.padEnd(18)} class (source val)  domain (balanced, chance 50%)`,
        ...(['backbone', 'shared', 'private'] as const).map((s) => `${(s === 'backbone' ? 'backbone features' : `${s} code`).padEnd(18)} ${p(res.probes[s].class).padStart(18)}  ${p(res.probes[s].domain).padStart(12)}`),
        res.targetAccuracy !== null ? `target accuracy (oracle): disentangle ${p(res.targetAccuracy)}, source-only ${p(res.sourceOnlyTargetAccuracy)}, DANN ${p(res.dannTargetAccuracy)}` : 'no target labels: target accuracy not measured (give --target-test DIR)',
        `bundle: ${res.bundle}`,
        `report: ${res.report}`,
      ].join('\n'),
    );
  },
});
