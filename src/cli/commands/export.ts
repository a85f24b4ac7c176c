/** `graft export BUNDLE --onnx FILE | --tfjs DIR`: the whole network for other runtimes (src/recipes/export*.ts). */
import { num, str } from '../args.js';
import { COMMON } from '../options.js';
import { emit } from '../output.js';
import { defineCommand, omit } from '../spec.js';
import type { TfjsExportResult } from '../../recipes/export-tfjs.js';

const USAGE = 'graft export BUNDLE (--onnx FILE [--web | --audio] [--logits] [--opset N] | --tfjs DIR | --teachable-machine DIR) [--quantize uint8|float16 [--eval DIR]]';
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The measured cost of quantised weights (empty for float32 exports). */
function quantLine(r: TfjsExportResult): string {
  if (r.quantize === 'float32') return '';
  const q = r.quantization;
  if (!q) return `${r.quantize} weights${r.keptFloat32?.length ? ` (kept float32: ${r.keptFloat32.join(', ')})` : ''}: no labelled images to measure accuracy on (give --eval DIR); max |Δ| on the probe batch ${r.maxAbsDiff.toExponential(1)}`;
  const kept = r.keptFloat32?.length ? ` (kept float32: ${r.keptFloat32.join(', ')})` : '';
  return `${r.quantize} weights${kept}: accuracy ${pct(q.float32)} → ${pct(q.quantized)} (${q.change >= 0 ? '+' : ''}${(100 * q.change).toFixed(1)} points) on ${q.images} images of ${q.data}; same top-1 on ${pct(q.agreement)}, max |Δp| ${q.maxAbsDiff.toExponential(1)}`;
}

export default defineCommand({
  name: 'export',
  summary: 'a bundle\'s whole network as one ONNX classifier, TF.js model or Teachable Machine model (checked against graft before writing)',
  usage: [USAGE],
  groups: [
    [
      'export options',
      {
        onnx: { type: 'string', arg: 'FILE', help: 'the .onnx file to write; input float32 [N,H,W,3], preprocessed as in its metadata' },
        logits: { type: 'boolean', help: 'ONNX: output logits instead of probabilities' },
        opset: { type: 'string', arg: 'N', default: '13', help: 'ONNX opset, 13–21' },
        audio: { type: 'boolean', help: 'with --onnx, for a sound model: the graph takes mono waveforms (float32 [N, samples] at the bundle\u2019s rate) and runs the log-mel front-end itself' },
        web: { type: 'boolean', help: 'with --onnx: also write FILE-web/ (index.html + graft-onnx.js + model + onnxruntime-web wasm), a page that runs it in a browser' },
        tfjs: { type: 'string', arg: 'DIR', help: 'a TF.js LayersModel directory (model.json + shards + labels.json): 0–255 RGB pixels in, probabilities out' },
        quantize: { type: 'string', arg: 'uint8|float16', help: 'TF.js / Teachable Machine: quantise the weights (¼ or ½ the size); the accuracy change is measured and printed' },
        eval: { type: 'string', arg: 'DIR', help: 'with --quantize: labelled images to measure the accuracy change on (default: the bundle\'s test split, if its data is still there)' },
        'teachable-machine': { type: 'string', arg: 'DIR', help: 'a Teachable Machine image model (model.json + weights.bin + metadata.json) for @teachablemachine/image' },
      },
    ],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft export ./model --onnx model.onnx', 'graft export ./ft --onnx ft.onnx --logits --opset 17', 'graft export ./model --onnx model.onnx --web', 'graft export ./sound-model --onnx sound.onnx --audio', 'graft export ./model --tfjs ./web-model', 'graft export ./model --teachable-machine ./tm', 'graft export ./model --tfjs ./web-q --quantize uint8'],
  async run(pos, v) {
    const file = str(v, 'onnx');
    const dir = str(v, 'tfjs');
    const tmDir = str(v, 'teachable-machine');
    if (pos.length !== 1 || (!file && !dir && !tmDir)) throw new Error(`usage: ${USAGE}`);
    if (v.web && !file) throw new Error('--web writes the example page of an ONNX export: give --onnx FILE too');
    if (v.audio && !file) throw new Error('--audio writes an ONNX graph that takes waveforms: give --onnx FILE too');
    const quantize = str(v, 'quantize');
    if (quantize !== undefined && quantize !== 'uint8' && quantize !== 'float16') throw new Error(`--quantize: uint8 or float16, got "${quantize}"`);
    if (quantize && !dir && !tmDir) throw new Error('--quantize applies to --tfjs and --teachable-machine exports (for ONNX int8 see graft extract --int8)');
    const q = { quantize: quantize as 'uint8' | 'float16' | undefined, evalData: str(v, 'eval') };
    const json = !!v.json;
    const out: Record<string, unknown> = {};
    const lines: string[] = [];
    if (file) {
      const { exportOnnx } = await import('../../recipes/export.js');
      const { defaultWebDir } = await import('../../export/onnx-web.js');
      const res = await exportOnnx(pos[0], file, { output: v.logits ? 'logits' : 'probabilities', opset: num(v, 'opset'), web: v.web ? defaultWebDir(file) : undefined, audio: !!v.audio });
      out.onnx = res;
      lines.push(
        `wrote ${res.file} (${mb(res.bytes)}): input "${res.input.name}" float32 [${res.input.shape.join(', ')}] ${'audio' in res.input ? `mono at ${res.input.sampleRate} Hz, the log-mel front-end in the graph` : `preprocessed as ${JSON.stringify(res.input.preprocess)}`}, ` +
          `output "${res.output.name}" [N, ${res.output.classes}]; labels in metadata "graft.labels"; max |ONNX − graft| on a probe batch ${res.maxAbsDiff.toExponential(1)}`,
      );
      if (res.web) lines.push(`wrote ${res.web.dir}/: index.html runs it with onnxruntime-web ${res.web.ortWebVersion} (wasm); serve the folder, e.g. npx http-server ${res.web.dir}`);
    }
    if (dir) {
      const { exportTfjs } = await import('../../recipes/export-tfjs.js');
      const res = await exportTfjs(pos[0], dir, q);
      out.tfjs = res;
      lines.push(quantLine(res));
      lines.push(
        `wrote ${res.dir} (${mb(res.bytes)}, ${res.files.length} files): tf.loadLayersModel('…/model.json'); input "${res.input.name}" float32 [${res.input.shape.join(', ')}] RGB 0–255 (${res.input.resize} resize is the caller's), ` +
          `output probabilities [N, ${res.output.classes}]; labels in userDefinedMetadata and labels.json; max |TF.js − graft| on a probe batch ${res.maxAbsDiff.toExponential(1)}`,
      );
    }
    if (tmDir) {
      const { exportTeachableMachine } = await import('../../recipes/export-teachable.js');
      const res = await exportTeachableMachine(pos[0], tmDir, q);
      out.teachableMachine = res;
      lines.push(quantLine(res));
      lines.push(
        `wrote ${res.dir} (${mb(res.bytes)}): tmImage.load('…/model.json', '…/metadata.json'), ${res.output.classes} labels, imageSize ${res.imageSize}; ` +
          `max |Teachable Machine input − graft| on a probe batch ${res.maxAbsDiff.toExponential(1)}\n  ${res.resizeNote}`,
      );
    }
    const parts = Object.values(out);
    emit(json, parts.length === 1 ? parts[0] : out, () => lines.filter(Boolean).join('\n'));
  },
});
