/** `graft zoo [show NAME]`: the backbones graft knows (src/recipes/zoo.ts). */
import { COMMON, MODEL } from '../options.js';
import { withOverrides } from '../../models/file-ref.js';
import { emit } from '../output.js';
import { defineCommand, omit, pick } from '../spec.js';

export default defineCommand({
  name: 'zoo',
  summary: 'backbones: input sizes, feature dims, parameters, weights, provenance',
  usage: ['graft zoo', 'graft zoo show NAME|FILE   # one backbone in full: cut points, layers, preprocessing, license'],
  groups: [
    ['model file options (show FILE)', pick(MODEL, 'input-size', 'mean', 'std', 'resize')],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft zoo', 'graft zoo show mobilenet_v2', 'graft zoo show ./net.onnx --input-size 160 --mean 0.5 --std 0.5'],
  async run(pos, v) {
    const { zooTable, zooEntry } = await import('../../recipes/zoo.js');
    if (pos[0] === 'show') {
      if (!pos[1]) throw new Error('usage: graft zoo show NAME');
      const e = await zooEntry(withOverrides(pos[1], v)!);
      emit(!!v.json, e, () => Object.entries(e).map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(', ') : typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join('\n'));
      return;
    }
    const rows = await zooTable();
    emit(!!v.json, { models: rows }, () =>
      rows.map((m) => `${m.name.padEnd(27)} ${m.input.join('×').padEnd(8)} ${String(m.featureDim).padStart(5)}-d  ${(m.params / 1e6).toFixed(2)}M params  ${m.weights}\n  ${m.provenance}`).join('\n'),
    );
  },
});
