/** `graft export BUNDLE --onnx FILE`: the whole network as one ONNX classifier (src/recipes/export.ts). */
import { num, str } from '../args.js';
import { COMMON } from '../options.js';
import { emit } from '../output.js';
import { defineCommand, omit } from '../spec.js';

export default defineCommand({
  name: 'export',
  summary: 'a bundle\'s whole network as one ONNX classifier (checked ≤1e-4 against graft before writing)',
  usage: ['graft export BUNDLE --onnx FILE [--logits] [--opset N]'],
  groups: [
    [
      'export options',
      {
        onnx: { type: 'string', arg: 'FILE', help: 'the .onnx file to write (required); input float32 [N,H,W,3], preprocessed as in its metadata' },
        logits: { type: 'boolean', help: 'output logits instead of probabilities' },
        opset: { type: 'string', arg: 'N', default: '13', help: 'ONNX opset, 13–21' },
      },
    ],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft export ./model --onnx model.onnx', 'graft export ./ft --onnx ft.onnx --logits --opset 17'],
  async run(pos, v) {
    const file = str(v, 'onnx');
    if (pos.length !== 1 || !file) throw new Error('usage: graft export BUNDLE --onnx FILE [--logits] [--opset N]');
    const { exportOnnx } = await import('../../recipes/export.js');
    const res = await exportOnnx(pos[0], file, { output: v.logits ? 'logits' : 'probabilities', opset: num(v, 'opset') });
    emit(!!v.json, res, () =>
      `wrote ${res.file} (${(res.bytes / 1e6).toFixed(1)} MB): input "input" float32 [${res.input.shape.join(', ')}] preprocessed as ${JSON.stringify(res.input.preprocess)}, ` +
      `output "${res.output.name}" [N, ${res.output.classes}]; labels in metadata "graft.labels"; max |ONNX − graft| on a probe batch ${res.maxAbsDiff.toExponential(1)}`,
    );
  },
});
