/**
 * A frozen backbone graph that takes 8-bit RGB pixels: the float32 NHWC input of `onnx` is fed by
 * Cast(uint8 → double) · scale − offset → Cast(float), with scale = 1/(255·std) and offset =
 * mean/std per channel — the same double-precision arithmetic, rounded once to float32, as
 * `normalizeRgb` (src/data/decode.ts), so features are bit-identical to normalising in JS. The
 * engine then receives a quarter of the bytes and normalises on its own threads.
 */
import { decodeModel, spliceModel } from './onnx-decode.js';
import { DataType, doubleTensor, encodeNode, encodeTensor, encodeValueInfo } from './onnx-proto.js';
import type { Preprocess } from '../data/decode.js';

export const PIXEL_INPUT = 'graft_pixels_u8';

/** Per-channel (scale, offset) of out = px·scale − offset, exactly as normalizeRgb computes them. */
export function normalisation(pre: Preprocess): { scale: number[]; offset: number[] } {
  return { scale: pre.std.map((s) => 1 / (255 * s)), offset: pre.mean.map((m, c) => m / pre.std[c]!) };
}

/** `onnx` (one float32 [N,H,W,3] input) rewritten to take uint8 [N,H,W,3] pixels preprocessed by `pre`. */
export function withPixelInput(onnx: Uint8Array, pre: Preprocess): Uint8Array {
  const model = decodeModel(onnx);
  const g = model.graph;
  const inits = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw new Error(`withPixelInput: expected one image input, the graph has ${inputs.length}`);
  const input = inputs[0]!;
  if (input.elemType !== DataType.FLOAT) throw new Error(`withPixelInput: the image input ${input.name} is not float32`);
  const [h, w] = pre.size;
  const { scale, offset } = normalisation(pre);
  const n = (name: string, opType: string, input: string[], output: string, to?: number) =>
    encodeNode({ name, opType, input, output: [output], ...(to !== undefined ? { attribute: [{ name: 'to', value: { type: 'int', i: to } }] } : {}) });
  const nodes = [
    n('graft_px_cast', 'Cast', [PIXEL_INPUT], 'graft_px_f64', DataType.DOUBLE),
    n('graft_px_scale', 'Mul', ['graft_px_f64', 'graft_px_scale_c'], 'graft_px_scaled'),
    n('graft_px_offset', 'Sub', ['graft_px_scaled', 'graft_px_offset_c'], 'graft_px_norm'),
    n('graft_px_to_f32', 'Cast', ['graft_px_norm'], input.name, DataType.FLOAT),
  ];
  return spliceModel(model, {
    node: [...nodes, ...g.node.map((x) => x.raw)],
    initializer: [encodeTensor(doubleTensor('graft_px_scale_c', [3], scale)), encodeTensor(doubleTensor('graft_px_offset_c', [3], offset)), ...g.initializer.map((t) => t.raw)],
    input: [encodeValueInfo({ name: PIXEL_INPUT, elemType: DataType.UINT8, shape: ['N', h, w, 3] }), ...g.input.filter((v) => inits.has(v.name)).map((v) => v.raw)],
    output: g.output.map((v) => v.raw),
    valueInfo: g.valueInfo.map((v) => v.raw),
  });
}
