/**
 * An ONNX classifier that takes the waveform: graft's audio front-end (src/audio/frontend.ts)
 * written as ONNX nodes in front of the network's float32 [N,H,W,3] input, so any ONNX runtime
 * goes from samples to probabilities in one graph.
 *
 * Input `waveform`: float32 [N, L], mono, at the bundle's sample rate, L = round(duration · rate)
 * samples (pad or crop centred before, as graft does). Then, as graft computes it:
 *   reflect-pad n_fft/2 → STFT as a strided Conv with periodic-Hann-windowed cos/sin kernels →
 *   |·|² → mel filter bank (rows reversed: high frequencies on top) → 10·log10(max(·, 1e-10)) →
 *   floor at max − top_db → grey (dB − floor)/top_db (black for a constant spectrogram) →
 *   bilinear Resize (half-pixel) to H×W → round to 8-bit levels → three channels → the backbone's
 *   mean/std in double precision (as normalizeRgb) → the network.
 */
import type { AudioFrontend } from '../audio/frontend.js';
import { melFilterbank } from '../audio/mel.js';
import type { Preprocess } from '../data/decode.js';
import { decodeModel, spliceModel } from './onnx-decode.js';
import { DataType, doubleTensor, encodeNode, encodeTensor, encodeValueInfo, floatTensor, int64Tensor, type AttributeProto } from './onnx-proto.js';
import { normalisation } from './pixel-input.js';

export const WAVEFORM_INPUT = 'waveform';

/** Samples the exported graph takes per clip. */
export const clipSamples = (fe: AudioFrontend): number => Math.round(fe.duration * fe.sampleRate);

/** The STFT as Conv weights [2F, 1, n_fft]: F windowed cosines, then F windowed sines. */
function stftKernels(nFft: number): { weights: Float32Array; bins: number } {
  const bins = Math.floor(nFft / 2) + 1;
  const w = new Float32Array(2 * bins * nFft);
  for (let k = 0; k < bins; k++)
    for (let i = 0; i < nFft; i++) {
      const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft);
      const a = (2 * Math.PI * ((k * i) % nFft)) / nFft;
      w[k * nFft + i] = win * Math.cos(a);
      w[(bins + k) * nFft + i] = -win * Math.sin(a);
    }
  return { weights: w, bins };
}

/** The mel filter bank as a [n_mels, F] matrix, band n_mels−1 first (graft's images have high frequencies in row 0). */
function melMatrix(fe: AudioFrontend, bins: number): Float32Array {
  const fb = melFilterbank(bins, fe.fmin, fe.fmax, fe.nMels, fe.sampleRate); // bins × nMels
  const out = new Float32Array(fe.nMels * bins);
  for (let r = 0; r < fe.nMels; r++) {
    const m = fe.nMels - 1 - r;
    for (let k = 0; k < bins; k++) out[r * bins + k] = fb[k * fe.nMels + m]!;
  }
  return out;
}

/** `onnx` (one float32 [N,H,W,3] input) rewritten to take mono waveforms through `pre.audio`. */
export function withWaveformInput(onnx: Uint8Array, pre: Preprocess): Uint8Array {
  const fe = pre.audio;
  if (!fe) throw new Error('withWaveformInput: this model reads images, not sounds (its preprocess has no audio front-end)');
  const model = decodeModel(onnx);
  const g = model.graph;
  const inits = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((v) => !inits.has(v.name));
  if (inputs.length !== 1 || inputs[0]!.elemType !== DataType.FLOAT) throw new Error('withWaveformInput: expected one float32 image input');
  const image = inputs[0]!.name;
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 13;
  const [h, w] = pre.size;
  const pad = Math.floor(fe.nFft / 2);
  const { weights, bins } = stftKernels(fe.nFft);
  const { scale, offset } = normalisation(pre);
  const p = (s: string) => `graft_au_${s}`;
  const nodes: Uint8Array[] = [];
  const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []) => {
    nodes.push(encodeNode({ name: p(output), opType, input: input.map((s) => (s === WAVEFORM_INPUT || s === '' ? s : p(s))), output: [output === image ? image : p(output)], attribute }));
  };
  const int = (name: string, i: number): AttributeProto => ({ name, value: { type: 'int', i } });
  // ReduceMax/Min take axes as an attribute up to opset 17, as an input from 18.
  const reduce = (op: 'ReduceMax' | 'ReduceMin', x: string, out: string) =>
    opset >= 18 ? node(op, [x, 'axes12'], out, [int('keepdims', 1)]) : node(op, [x], out, [{ name: 'axes', value: { type: 'ints', ints: [1, 2] } }, int('keepdims', 1)]);
  const consts = [
    int64Tensor(p('axis1'), [1], [1]),
    int64Tensor(p('axes12'), [2], [1, 2]),
    int64Tensor(p('pads'), [6], [0, 0, pad, 0, 0, pad]),
    floatTensor(p('stft'), [2 * bins, 1, fe.nFft], weights),
    int64Tensor(p('zero'), [1], [0]),
    int64Tensor(p('one'), [1], [1]),
    int64Tensor(p('bins'), [1], [bins]),
    int64Tensor(p('bins2'), [1], [2 * bins]),
    floatTensor(p('mel'), [fe.nMels, bins], melMatrix(fe, bins)),
    floatTensor(p('amin'), [], [1e-10]),
    floatTensor(p('db_per_ln'), [], [10 / Math.LN10]),
    floatTensor(p('top_db'), [], [fe.topDb]),
    floatTensor(p('flat'), [], [1e-6]),
    int64Tensor(p('hw'), [3], [1, h, w]),
    floatTensor(p('levels'), [], [255]),
    floatTensor(p('lo'), [], [0]),
    floatTensor(p('hi'), [], [255]),
    doubleTensor(p('px_scale'), [3], scale),
    doubleTensor(p('px_offset'), [3], offset),
  ];
  node('Unsqueeze', [WAVEFORM_INPUT, 'axis1'], 'x3'); // [N, 1, L]
  node('Pad', ['x3', 'pads'], 'padded', [{ name: 'mode', value: { type: 'string', s: 'reflect' } }]);
  node('Conv', ['padded', 'stft'], 'spec', [{ name: 'strides', value: { type: 'ints', ints: [fe.hop] } }]); // [N, 2F, T]
  node('Slice', ['spec', 'zero', 'bins', 'axis1'], 're');
  node('Slice', ['spec', 'bins', 'bins2', 'axis1'], 'im');
  node('Mul', ['re', 're'], 're2');
  node('Mul', ['im', 'im'], 'im2');
  node('Add', ['re2', 'im2'], 'power'); // [N, F, T]
  node('MatMul', ['mel', 'power'], 'melspec'); // [N, M, T], high bands first
  node('Max', ['melspec', 'amin'], 'clamped');
  node('Log', ['clamped'], 'ln');
  node('Mul', ['ln', 'db_per_ln'], 'db');
  reduce('ReduceMax', 'db', 'db_max'); // [N, 1, 1]
  node('Sub', ['db_max', 'top_db'], 'floor');
  node('Max', ['db', 'floor'], 'db_floored');
  reduce('ReduceMin', 'db_floored', 'db_min');
  node('Sub', ['db_max', 'db_min'], 'range');
  node('Greater', ['range', 'flat'], 'not_flat');
  node('Cast', ['not_flat'], 'keep', [int('to', DataType.FLOAT)]);
  node('Sub', ['db_floored', 'floor'], 'above');
  node('Div', ['above', 'top_db'], 'grey0');
  node('Mul', ['grey0', 'keep'], 'grey'); // [N, M, T] in [0, 1]
  node('Unsqueeze', ['grey', 'axis1'], 'grey4'); // [N, 1, M, T]
  node('Shape', [WAVEFORM_INPUT], 'wshape');
  node('Slice', ['wshape', 'zero', 'one', 'zero'], 'batch');
  node('Concat', ['batch', 'hw'], 'sizes', [int('axis', 0)]);
  node('Resize', ['grey4', '', '', 'sizes'], 'resized', [
    { name: 'mode', value: { type: 'string', s: 'linear' } },
    { name: 'coordinate_transformation_mode', value: { type: 'string', s: 'half_pixel' } },
  ]);
  node('Mul', ['resized', 'levels'], 'scaled');
  node('Round', ['scaled'], 'rounded');
  node('Clip', ['rounded', 'lo', 'hi'], 'px1'); // [N, 1, H, W] 8-bit levels
  node('Transpose', ['px1'], 'nhwc1', [{ name: 'perm', value: { type: 'ints', ints: [0, 2, 3, 1] } }]);
  node('Concat', ['nhwc1', 'nhwc1', 'nhwc1'], 'rgb', [int('axis', 3)]);
  node('Cast', ['rgb'], 'rgb64', [int('to', DataType.DOUBLE)]);
  node('Mul', ['rgb64', 'px_scale'], 'norm0');
  node('Sub', ['norm0', 'px_offset'], 'norm');
  node('Cast', ['norm'], image, [int('to', DataType.FLOAT)]);
  return spliceModel(model, {
    node: [...nodes, ...g.node.map((x) => x.raw)],
    initializer: [...consts.map(encodeTensor), ...g.initializer.map((t) => t.raw)],
    input: [encodeValueInfo({ name: WAVEFORM_INPUT, elemType: DataType.FLOAT, shape: ['N', clipSamples(fe)] }), ...g.input.filter((v) => inits.has(v.name)).map((v) => v.raw)],
    output: g.output.map((v) => v.raw),
    valueInfo: g.valueInfo.map((v) => v.raw),
  });
}
