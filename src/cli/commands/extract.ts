/** `graft extract DATA --out FILE`: backbone ("bottleneck") features of a folder or a tensor (src/recipes/extract.ts). */
import { str } from '../args.js';
import { COMMON, DATA, ENGINE, MODEL, dataOpts, engineOpts, modelOpts } from '../options.js';
import { emit, skippedSummary } from '../output.js';
import { defineCommand, pick } from '../spec.js';

const FORMATS = ['npy', 'json', 'csv'] as const;

export default defineCommand({
  name: 'extract',
  summary: 'backbone features of a folder (rows in sorted path order) or of a preprocessed tensor',
  usage: ['graft extract DATA --out FILE [--format npy|json|csv] [--layer L] [options]', 'graft extract --tensor X.npy --out FILE [--layer logits|BLOCK]   # float32 [N,H,W,3], already preprocessed'],
  groups: [
    [
      'extract options',
      {
        out: { type: 'string', short: 'o', arg: 'FILE', help: 'the features file to write (required)' },
        format: { type: 'string', arg: 'npy|json|csv', default: 'npy', help: 'npy: float32 [N, dim]; json and csv name each row\'s file and label' },
        layer: { type: 'string', arg: 'L', default: "the backbone's feature layer", help: 'logits, or a cut point / layer listed by graft zoo show NAME' },
        tensor: { type: 'string', arg: 'X.npy', help: 'run the backbone on this float32 [N,H,W,3] array (no resizing or normalising) instead of DATA' },
      },
    ],
    ['model options', MODEL],
    ['data options', pick(DATA, 'classes', 'limit-per-class')],
    ['engine options', ENGINE],
    ['common options', COMMON],
  ],
  examples: [
    'graft extract ./photos --backbone mobilenet_v2 --format npy --out feats.npy',
    'graft extract --tensor x.npy --backbone resnet18 --weights r18.pth --layer logits --out y.npy',
  ],
  async run(pos, v, r) {
    const out = str(v, 'out');
    if (!out) throw new Error('graft extract needs --out FILE');
    const { extractFolder, extractTensor } = await import('../../recipes/extract.js');
    const tensor = str(v, 'tensor');
    if (tensor) {
      if (pos.length) throw new Error('graft extract: give DATA or --tensor FILE.npy, not both');
      const res = await extractTensor({ ...engineOpts(v), tensor, out, format: str(v, 'format', FORMATS), ...modelOpts(v), layer: str(v, 'layer') });
      emit(!!v.json, res, () => `wrote ${res.n}×${res.dim} ${res.backbone} outputs (${res.layer}) of ${tensor} to ${res.out}`);
      return;
    }
    if (pos.length !== 1) throw new Error('usage: graft extract DATA --out FILE  |  graft extract --tensor FILE.npy --out FILE');
    const res = await extractFolder({ ...dataOpts(v), ...engineOpts(v), data: pos[0], out, format: str(v, 'format', FORMATS), ...modelOpts(v), layer: str(v, 'layer'), reporter: r });
    emit(!!v.json, res, () => `wrote ${res.n}×${res.dim} ${res.backbone} features (${res.layer}) to ${res.out}; ${res.features.computed} computed, ${res.features.cached} cached` + skippedSummary(res.skipped));
  },
});
