/** `graft data get NAME`: official dataset archives into $GRAFT_HOME/datasets (src/recipes/data-get.ts). */
import { COMMON } from '../options.js';
import { emit } from '../output.js';
import { defineCommand, omit } from '../spec.js';
import { dataGet, DATASET_NAMES } from '../../recipes/data-get.js';

const names = DATASET_NAMES as readonly string[];

export default defineCommand({
  name: 'data',
  summary: `data get ${names.join('|')}: official archives (md5-checked) into $GRAFT_HOME/datasets`,
  usage: [`graft data get ${names.join('|')}   # offline: says which file to place where`],
  groups: [['common options', omit(COMMON, 'strict')]],
  examples: ['graft data get cifar10', 'graft train $GRAFT_HOME/datasets/cifar10 --out ./cifar-model   # then train on it'],
  async run(pos, v, r) {
    if (pos[0] !== 'get' || !pos[1] || !names.includes(pos[1])) throw new Error(`usage: graft data get ${names.join('|')}`);
    const res = await dataGet(pos[1] as Parameters<typeof dataGet>[0], { reporter: r });
    emit(!!v.json, res, () => `${res.name}: ${res.dir} (${res.from === 'download' ? 'downloaded' : res.from === 'system' ? 'system copy' : 'already present'}, ${res.files.length} files)`);
  },
});
