/** `graft add-class BUNDLE DIR`: a new class (or more images of one) for a prototype bundle (src/recipes/prototype.ts). */
import { str } from '../args.js';
import { COMMON } from '../options.js';
import { emit, skippedSummary } from '../output.js';
import { defineCommand } from '../spec.js';

export default defineCommand({
  name: 'add-class',
  summary: 'add a class to a prototype bundle from a few images (or update a class), no retraining',
  usage: ['graft add-class BUNDLE DIR [--name CLASS] [--out DIR]   # DIR: images of one class, or <class>/ folders'],
  groups: [
    [
      'add-class options',
      {
        name: { type: 'string', arg: 'CLASS', default: "DIR's name", help: 'the class name when DIR holds one class' },
        out: { type: 'string', short: 'o', arg: 'DIR', default: 'BUNDLE (replaced atomically)', help: 'write the new bundle elsewhere' },
      },
    ],
    ['common options', COMMON],
  ],
  examples: [
    'graft add-class ./model ./photos-of-otters          # a new class "photos-of-otters"',
    'graft add-class ./model ./more-cats --name cat      # more images of an existing class: its prototype is updated',
  ],
  async run(pos, v, r) {
    if (pos.length !== 2) throw new Error('usage: graft add-class BUNDLE DIR [--name CLASS]');
    const { addClass } = await import('../../recipes/prototype.js');
    const res = await addClass(pos[0], pos[1], { name: str(v, 'name'), out: str(v, 'out'), strict: !!v.strict, reporter: r });
    emit(!!v.json, res, () =>
      [
        ...res.added.map((a) => `added class ${a.label} (${a.images} images)`),
        ...res.updated.map((u) => `updated class ${u.label}: ${u.before} + ${u.images} images`),
        `${res.bundle}: ${res.labels.length} classes (${res.labels.join(', ')})`,
      ].join('\n') + skippedSummary(res.skipped),
    );
  },
});
