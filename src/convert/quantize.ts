/**
 * Static int8 quantisation of a frozen float backbone graph in the QDQ format that onnxruntime
 * turns into its integer kernels (QLinearConv, QLinearAdd, …), calibrated on the user's images:
 * - every activation (each node output except the graph's own outputs) gets QuantizeLinear →
 *   DequantizeLinear with an asymmetric uint8 range from calibration (min/max over the batches,
 *   widened to hold 0);
 * - Conv weights become int8, symmetric per output channel (7-bit range by default: x86 without
 *   VNNI multiplies u8·s8 pairs into saturating int16, which 7-bit weights cannot overflow), and
 *   Conv biases int32 with scale = input scale · weight scale, both through DequantizeLinear.
 * The graph keeps its float32 input and output, so it is a drop-in replacement (the pixel-input
 * wrapper of pixel-input.ts still applies on top).
 */
import { decodeModel, renameNodeIO, spliceModel, tensorFloats, type DecodedModel } from './onnx-decode.js';
import { DataType, encodeNode, encodeTensor, encodeValueInfo, floatTensor, type TensorProto } from './onnx-proto.js';

export type Ranges = Record<string, [number, number]>;

const INT8 = 3;
const INT32 = 6;

/** Activation ops that a following QuantizeLinear absorbs (onnxruntime drops them when the range fits). */
const ABSORBED = new Set(['Relu', 'Clip']);

/**
 * Tensors that get a Q/DQ pair: every node output that is not a graph output, except those read
 * only by a ReLU/ReLU6 (quantised after the activation instead, so Conv → Clip → Q becomes one
 * integer convolution rather than a requantisation).
 */
export function activationTensors(model: DecodedModel): string[] {
  const outs = new Set(model.graph.output.map((v) => v.name));
  const consumers = new Map<string, string[]>();
  for (const n of model.graph.node) for (const i of n.input) consumers.set(i, [...(consumers.get(i) ?? []), n.opType]);
  return model.graph.node
    .flatMap((n) => n.output)
    .filter((t) => t && !outs.has(t) && !(consumers.get(t) ?? []).every((op) => ABSORBED.has(op)));
}

/** The graph with every activation tensor also exposed as a graph output (for calibration). */
export function calibrationGraph(onnx: Uint8Array, keep: (tensor: string) => boolean = () => true): { bytes: Uint8Array; tensors: string[] } {
  const model = decodeModel(onnx);
  const g = model.graph;
  const tensors = activationTensors(model).filter(keep);
  const bytes = spliceModel(model, {
    node: g.node.map((n) => n.raw),
    initializer: g.initializer.map((t) => t.raw),
    input: g.input.map((v) => v.raw),
    output: [...g.output.map((v) => v.raw), ...tensors.map((name) => encodeValueInfo({ name, elemType: DataType.FLOAT }))],
    valueInfo: g.valueInfo.map((v) => v.raw),
  });
  return { bytes, tensors };
}

/** Running min/max per tensor over calibration batches. */
export class RangeObserver {
  readonly ranges: Ranges = {};
  observe(name: string, data: Float32Array): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const r = this.ranges[name];
    this.ranges[name] = r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi];
  }
}

function tensor(name: string, dims: number[], dataType: number, bytes: ArrayBufferView): TensorProto {
  return { name, dims, dataType: dataType as TensorProto['dataType'], rawData: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** uint8 scale and zero point of a range (0 always representable). */
export function uint8Params([lo, hi]: [number, number]): { scale: number; zeroPoint: number } {
  const min = Math.min(0, lo);
  const max = Math.max(0, hi);
  const scale = max > min ? (max - min) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-min / scale))) };
}

/** Symmetric per-output-channel int8 weights (axis 0) within ±qmax. */
export function quantizeWeights(w: Float32Array, channels: number, qmax: number): { q: Int8Array; scale: Float32Array } {
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scale = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(w[i]!));
    const s = m > 0 ? m / qmax : 1;
    scale[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / scale[c]!)));
  }
  return { q, scale };
}

export interface QuantizeOptions {
  /** Largest weight magnitude in int8 steps: 63 (7-bit, default; safe without VNNI) or 127. */
  weightMax?: number;
}

/** The QDQ int8 version of `onnx` for the calibrated activation `ranges` (see the module comment). */
export function quantizeQdq(onnx: Uint8Array, ranges: Ranges, opts: QuantizeOptions = {}): Uint8Array {
  const qmax = opts.weightMax ?? 63;
  const model = decodeModel(onnx);
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const tensors = new Set(activationTensors(model));
  const nodes: Uint8Array[] = [];
  const newInits: TensorProto[] = [];
  const dropped = new Set<string>();
  const actParams = new Map<string, { scale: number; zeroPoint: number }>();
  /** Name consumers read instead of activation t: its dequantised copy. */
  const dq = (t: string) => (tensors.has(t) ? `${t}__dq` : t);
  for (const t of tensors) {
    const r = ranges[t];
    if (!r) throw new Error(`quantize: no calibration range for tensor ${t}`);
    const p = uint8Params(r);
    actParams.set(t, p);
    newInits.push(floatTensor(`${t}__s`, [], [p.scale]), tensor(`${t}__z`, [], DataType.UINT8, Uint8Array.of(p.zeroPoint)));
  }
  for (const n of g.node) {
    let input = n.input.map(dq);
    if (n.opType === 'Conv' && inits.has(n.input[1]!) && actParams.has(n.input[0]!)) {
      const wt = inits.get(n.input[1]!)!;
      const co = wt.dims[0]!;
      const { q, scale } = quantizeWeights(tensorFloats(wt), co, qmax);
      const wn = `${wt.name}__q`;
      newInits.push(tensor(wn, wt.dims, INT8, q), floatTensor(`${wn}_s`, [co], scale), tensor(`${wn}_z`, [co], INT8, new Int8Array(co)));
      nodes.push(encodeNode({ opType: 'DequantizeLinear', input: [wn, `${wn}_s`, `${wn}_z`], output: [`${wn}__dq`], attribute: [{ name: 'axis', value: { type: 'int', i: 0 } }] }));
      dropped.add(wt.name);
      input = [dq(n.input[0]!), `${wn}__dq`];
      const bName = n.input[2];
      if (bName && inits.has(bName)) {
        const b = tensorFloats(inits.get(bName)!);
        const sx = actParams.get(n.input[0]!)!.scale;
        const bs = Float32Array.from(scale, (s) => s * sx);
        const bq = Int32Array.from(b, (v, c) => Math.round(v / bs[c]!));
        const bn = `${bName}__q`;
        newInits.push(tensor(bn, [co], INT32, bq), floatTensor(`${bn}_s`, [co], bs), tensor(`${bn}_z`, [co], INT32, new Int32Array(co)));
        nodes.push(encodeNode({ opType: 'DequantizeLinear', input: [bn, `${bn}_s`, `${bn}_z`], output: [`${bn}__dq`], attribute: [{ name: 'axis', value: { type: 'int', i: 0 } }] }));
        dropped.add(bName);
        input.push(`${bn}__dq`);
      }
    }
    nodes.push(renameNodeIO(n, input, n.output));
    for (const t of n.output) {
      if (!tensors.has(t)) continue;
      nodes.push(encodeNode({ opType: 'QuantizeLinear', input: [t, `${t}__s`, `${t}__z`], output: [`${t}__q`] }));
      nodes.push(encodeNode({ opType: 'DequantizeLinear', input: [`${t}__q`, `${t}__s`, `${t}__z`], output: [`${t}__dq`] }));
    }
  }
  // Weights still read by another node stay.
  const stillUsed = new Set(g.node.filter((n) => n.opType !== 'Conv').flatMap((n) => n.input));
  return spliceModel(model, {
    node: nodes,
    initializer: [...g.initializer.filter((t) => !dropped.has(t.name) || stillUsed.has(t.name)).map((t) => t.raw), ...newInits.map(encodeTensor)],
    input: g.input.map((v) => v.raw),
    output: g.output.map((v) => v.raw),
  });
}
