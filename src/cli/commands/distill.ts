/** `graft distill`: teacher → student knowledge distillation with a label-only baseline (src/recipes/distill.ts). */
import fs from 'node:fs';
import { list, num, str } from '../args.js';
import { COMMON, DATA, ENGINE, engineOpts } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'distill',
  summary: 'distil a teacher bundle into a small CNN or a registry backbone (Hinton KD) beside a label-only baseline → two bundles + report.html',
  usage: [
    'graft distill --teacher BUNDLE --student small-cnn --data DIR [--unlabelled DIR] [--temperature 4] [--alpha 0.9] [--augment N|views] --out DIR',
    'graft distill --teacher BUNDLE --student mobilenet_v2 [--unfreeze K] --data DIR [--unlabelled DIR] --out DIR',
  ],
  groups: [
    [
      'distill options',
      {
        teacher: { type: 'string', arg: 'BUNDLE[,…]', help: 'any graft bundle; several, comma-separated: an ensemble teacher (mean of their probabilities)' },
        student: { type: 'string', arg: 'small-cnn|NAME', default: 'small-cnn', help: "graft's small CNN from pixels, or a backbone (graft zoo): a head on its frozen features" },
        unfreeze: { type: 'string', arg: 'K', help: 'backbone student: fine-tune its last K blocks (cut activations cached) instead' },
        head: { type: 'string', arg: 'linear|mlp', default: 'linear', help: 'backbone student without --unfreeze: the head (AdamW)' },
        augment: { type: 'string', arg: 'N|v,…', help: 'cached augmented views (first N, or names: none,crop-tl,…); the teacher labels each once' },
        data: { type: 'string', arg: 'DIR', help: 'labelled images (train/val/test split by hash)' },
        unlabelled: { type: 'string', arg: 'DIR', help: 'transfer set: images only the teacher labels' },
        temperature: { type: 'string', arg: 'T', default: '4', help: 'softmax temperature of the soft targets' },
        alpha: { type: 'string', arg: 'A', default: '0.9', help: 'weight of the soft (KL) term; 1 − A weighs the cross-entropy' },
        widths: { type: 'string', arg: 'w,…', default: '16,32,32', help: 'small-CNN conv widths, one stage each (depth = count)' },
        size: { type: 'string', arg: 'PX', default: '28', help: 'small-CNN input size' },
        epochs: { type: 'string', arg: 'N', help: 'training epochs (default small-cnn: ≥20 and ≥600 steps, ≤60; head 30; --unfreeze 6)' },
        'freeze-epochs': { type: 'string', arg: 'N', default: '2', help: '--unfreeze: head-only epochs first' },
        lr: { type: 'string', arg: 'LR', help: 'learning rate (default small-cnn 3e-3, head 1e-3, --unfreeze 1e-2)' },
        'batch-size': { type: 'string', arg: 'N', default: '32', help: 'training batch size' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'initialisation and shuffling seed (student and baseline alike)' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'student bundle; the baseline goes to DIR-label-only' },
        report: { type: 'boolean', help: 'accepted for symmetry: DIR-report.html is always written' },
      },
    ],
    ['data options', DATA],
    ['engine options', { engine: ENGINE.engine, threads: ENGINE.threads }],
    ['common options', COMMON],
  ],
  examples: [
    'graft distill --teacher ./big-model --student small-cnn --data ./photos --unlabelled ./more --out ./student --json',
    'graft distill --teacher ./big-model --student mobilenet_v2 --unfreeze 1 --data ./photos --unlabelled ./more --out ./student',
    'graft distill --teacher ./mobilenet-model,./inception-model --data ./photos --unlabelled ./more --out ./student   # ensemble teacher',
  ],
  async run(pos, v, r) {
    const teacher = str(v, 'teacher');
    const data = str(v, 'data');
    const out = str(v, 'out');
    if (pos.length || !teacher || !data || !out) throw new Error('usage: graft distill --teacher BUNDLE --student small-cnn --data DIR --out DIR');
    const augment = str(v, 'augment');
    const head = str(v, 'head');
    if (head !== undefined && head !== 'linear' && head !== 'mlp') throw new Error(`--head ${head}: choose linear or mlp`);
    const { distillRecipe } = await import('../../recipes/distill.js');
    const res = await distillRecipe({
      // A comma list is an ensemble, unless the whole string names a folder.
      teacher: teacher.includes(',') && !fs.existsSync(teacher) ? teacher.split(',').map((t) => t.trim()) : teacher,
      student: str(v, 'student') ?? 'small-cnn',
      data,
      transfer: str(v, 'unlabelled'),
      out,
      temperature: num(v, 'temperature'),
      alpha: num(v, 'alpha'),
      widths: list(v, 'widths')?.map(Number),
      size: num(v, 'size'),
      epochs: num(v, 'epochs'),
      seed: num(v, 'seed'),
      unfreeze: num(v, 'unfreeze'),
      head,
      augment: augment === undefined ? undefined : /^\d+$/.test(augment) ? Number(augment) : augment.split(',').map((x) => x.trim()),
      freezeEpochs: num(v, 'freeze-epochs'),
      lr: num(v, 'lr'),
      batchSize: num(v, 'batch-size'),
      limitPerClass: num(v, 'limit-per-class'),
      valPercent: num(v, 'val-percent'),
      testPercent: num(v, 'test-percent'),
      classes: list(v, 'classes'),
      ...engineOpts(v),
      strict: !!v.strict,
      reporter: r,
    });
    emit(!!v.json, res, () =>
      [
        `${'model'.padEnd(12)} accuracy   params   bundle KB  img/s@1  img/s@16`,
        ...(['teacher', 'student', 'baseline'] as const).map((k) => {
          const m = res[k];
          return `${k.padEnd(12)} ${pct(m.accuracy).padStart(8)} ${String(m.params).padStart(8)} ${(m.bundleBytes / 1024).toFixed(0).padStart(11)} ${m.imgPerSec['1'].toFixed(1).padStart(8)} ${m.imgPerSec['16'].toFixed(1).padStart(9)}`;
        }),
        `student: ${res.settings.student}, ${res.settings.labelled} labelled + ${res.settings.unlabelled} unlabelled images; teacher logits ${res.teacherLogits.computed} computed, ${res.teacherLogits.cached} cached`,
        `student: ${res.bundle}; label-only baseline: ${res.baseline.bundle}; report: ${res.report}`,
      ].join('\n'),
    );
  },
});
