/** `graft pretrain DIR --out BUNDLE [--method simclr|rotation] [--unfreeze K]`: self-supervised adaptation (src/recipes/pretrain.ts). */
import { list, num, str } from '../args.js';
import { COMMON, DATA, ENGINE, MODEL, RUN, engineOpts, modelOpts } from '../options.js';
import { emit, pct, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

/** "auto" or an integer ≥ 2. */
function kOf(s: string | undefined): number | 'auto' {
  if (s === undefined || s === 'auto') return 'auto';
  const k = Number(s);
  if (!Number.isInteger(k) || k < 2) throw new Error(`--k must be auto or an integer ≥ 2, got "${s}"`);
  return k;
}

/** "5,20" → [5, 20]; "none" → []. */
function shots(s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  if (s === 'none') return [];
  return s.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`--probe takes shots per class like 5,20 (or none), got "${s}"`);
    return n;
  });
}

export default defineCommand({
  name: 'pretrain',
  summary: 'self-supervised adaptation of the last blocks to unlabelled images (SimCLR or rotation) → a bundle to use with --from',
  usage: ['graft pretrain DIR --out BUNDLE [--method simclr|rotation] [--unfreeze K] [options]'],
  groups: [
    [
      'pretrain options',
      {
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'the adapted bundle (required): graft train DATA --from DIR' },
        method: { type: 'string', arg: 'simclr|rotation', default: 'simclr', help: "SimCLR's NT-Xent over pairs of views, or predicting a 0/90/180/270° rotation" },
        unfreeze: { type: 'string', arg: 'K', default: '2', help: 'adapt the last K blocks (cut activations cached per view)' },
        cut: { type: 'string', arg: 'LAYER', help: 'adapt from this cut point instead (graft zoo show NAME lists them)' },
        views: { type: 'string', arg: 'v,…', help: 'views to pair/rotate (default simclr: none,crop-tl,crop-br,crop-tr,crop-bl,crop-c,jitter-a,jitter-b; rotation: none,rot90,rot180,rot270; also flip, grey, …)' },
        epochs: { type: 'string', arg: 'N', default: '10', help: 'passes over the images' },
        'batch-size': { type: 'string', arg: 'N', default: '64', help: 'images per step (SimCLR: the other images of the batch are the negatives)' },
        lr: { type: 'string', arg: 'X', default: '1e-3', help: 'peak learning rate (AdamW, one-cycle)' },
        'weight-decay': { type: 'string', arg: 'X', default: '1e-4', help: 'AdamW decoupled weight decay' },
        temperature: { type: 'string', arg: 'T', default: '0.2', help: 'NT-Xent temperature' },
        'train-bn': { type: 'boolean', help: "let the tail's BatchNorm use and update batch statistics (default: frozen)" },
        k: { type: 'string', arg: 'auto|N', default: 'auto', help: "the bundle's classes: k-means clusters of the adapted features" },
        probe: { type: 'string', arg: 'N,…|none', default: '5,20', help: 'label folders only: linear probe with N labels per class, before vs after' },
        draws: { type: 'string', arg: 'N', default: '5', help: 'seeded draws per probe' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'seeds the view pairs, shuffling, heads and clusters' },
        checkpoint: { type: 'string', arg: 'DIR', default: 'OUT.ckpt', help: 'checkpoint after every epoch' },
        'no-checkpoint': { type: 'boolean', help: 'do not checkpoint' },
        resume: { type: 'boolean', help: 'continue from the checkpoint' },
        ...pick(RUN, 'from', 'report'),
      },
    ],
    ['model options', MODEL],
    ['data options', pick(DATA, 'classes', 'limit-per-class')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft pretrain ./unlabelled-xrays --unfreeze 2 --method simclr --out ./adapted   # no labels at all',
    'graft train ./twenty-labelled-xrays --from ./adapted --out ./model               # then a few labels',
    'graft pretrain ./fashion --probe 5,20 --out ./adapted --json                    # label folders only score it: probe before/after',
  ],
  async run(pos, v, r) {
    if (pos.length !== 1) throw new Error('usage: graft pretrain DIR --out BUNDLE');
    const out = str(v, 'out');
    if (!out) throw new Error('graft pretrain needs --out DIR (the adapted bundle)');
    const { pretrainRecipe } = await import('../../recipes/pretrain.js');
    const res = await pretrainRecipe({
      ...engineOpts(v),
      ...modelOpts(v),
      data: pos[0],
      out,
      method: str(v, 'method', ['simclr', 'rotation'] as const),
      unfreeze: num(v, 'unfreeze'),
      cut: str(v, 'cut'),
      views: list(v, 'views'),
      epochs: num(v, 'epochs'),
      batchSize: num(v, 'batch-size'),
      lr: num(v, 'lr'),
      weightDecay: num(v, 'weight-decay'),
      temperature: num(v, 'temperature'),
      trainBn: !!v['train-bn'],
      k: kOf(str(v, 'k')),
      probe: shots(str(v, 'probe')),
      draws: num(v, 'draws'),
      seed: num(v, 'seed'),
      checkpoint: v['no-checkpoint'] ? false : str(v, 'checkpoint'),
      resume: !!v.resume,
      from: str(v, 'from'),
      report: str(v, 'report'),
      classes: list(v, 'classes'),
      limitPerClass: num(v, 'limit-per-class'),
      strict: !!v.strict,
      reporter: r,
    });
    const last = res.history.at(-1);
    emit(!!v.json, res, () =>
      [
        `${res.method} on ${res.images} images: ${res.backbone.blocks} block(s) of ${res.backbone.name} from ${res.backbone.cut} (${res.trainableParams.toLocaleString('en-US')} parameters), ${res.history.length} epochs in ${res.seconds.train.toFixed(1)} s`,
        last?.terms ? `last epoch: ${Object.entries(last.terms).map(([k, x]) => `${k} ${k.toLowerCase().includes('acc') || k === 'top1' ? pct(x) : x.toFixed(4)}`).join(', ')}` : '',
        ...res.probes.map((p) => `linear probe, ${p.shots} labels per class: ${pct(p.before.accuracy)} before → ${pct(p.after.accuracy)} after (${p.after.draws} draws, ${p.after.queries} queries; transductive)`),
        res.clusters.nmiAfter !== null ? `k-means NMI against the folders: ${res.clusters.nmiBefore!.toFixed(3)} before → ${res.clusters.nmiAfter.toFixed(3)} after` : '',
        `bundle: ${res.bundle} (${res.clusters.k} cluster classes); use it with --from ${res.bundle}`,
        res.report ? `report: ${res.report}` : '',
        skippedSummary(res.skipped),
      ]
        .filter(Boolean)
        .join('\n'),
    );
  },
});
