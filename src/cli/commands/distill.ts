/** `graft distill`: teacher → student knowledge distillation with a label-only baseline (src/recipes/distill.ts). */
import { list, num, str } from '../args.js';
import { COMMON } from '../options.js';
import { emit, pct } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'distill',
  summary: 'distil a teacher bundle into a small CNN (Hinton KD) beside a label-only baseline → two bundles + report.html',
  usage: ['graft distill --teacher BUNDLE --student small-cnn --data DIR [--unlabelled DIR] [--temperature 4] [--alpha 0.9] --out DIR'],
  groups: [
    [
      'distill options',
      {
        teacher: { type: 'string', arg: 'BUNDLE', help: 'any graft bundle' },
        student: { type: 'string', arg: 'small-cnn', default: 'small-cnn', help: "the student network (graft's small CNN from pixels)" },
        data: { type: 'string', arg: 'DIR', help: 'labelled images (train/val/test split by hash)' },
        unlabelled: { type: 'string', arg: 'DIR', help: 'transfer set: images only the teacher labels' },
        temperature: { type: 'string', arg: 'T', default: '4', help: 'softmax temperature of the soft targets' },
        alpha: { type: 'string', arg: 'A', default: '0.9', help: 'weight of the soft (KL) term; 1 − A weighs the cross-entropy' },
        widths: { type: 'string', arg: 'w,…', default: '16,32,32', help: 'small-CNN conv widths, one stage each (depth = count)' },
        size: { type: 'string', arg: 'PX', default: '28', help: 'small-CNN input size' },
        epochs: { type: 'string', arg: 'N', help: 'training epochs (default: ≥300 steps, ≤60 epochs)' },
        seed: { type: 'string', arg: 'N', default: '0', help: 'initialisation and shuffling seed (student and baseline alike)' },
        out: { type: 'string', short: 'o', arg: 'DIR', help: 'student bundle; the baseline goes to DIR-label-only' },
        'limit-per-class': { type: 'string', arg: 'N', help: 'label budget: at most N images per class' },
        report: { type: 'boolean', help: 'accepted for symmetry: DIR-report.html is always written' },
      },
    ],
    ['common options', COMMON],
  ],
  examples: ['graft distill --teacher ./big-model --student small-cnn --data ./photos --unlabelled ./more --out ./student --json'],
  async run(pos, v, r) {
    const teacher = str(v, 'teacher');
    const data = str(v, 'data');
    const out = str(v, 'out');
    if (pos.length || !teacher || !data || !out) throw new Error('usage: graft distill --teacher BUNDLE --student small-cnn --data DIR --out DIR');
    const { distillRecipe } = await import('../../recipes/distill.js');
    const res = await distillRecipe({
      teacher,
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
      limitPerClass: num(v, 'limit-per-class'),
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
        `student: ${res.bundle}; label-only baseline: ${res.baseline.bundle}; report: ${res.report}`,
      ].join('\n'),
    );
  },
});
