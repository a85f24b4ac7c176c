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
import { decodeModel, renameNodeIO, spliceModel, tensorFloats, type DecodedModel, type DecodedNode } from './onnx-decode.js';
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
  /** One weight scale per output channel (default) or one per tensor. */
  perChannel?: boolean;
  /** Activations as asymmetric uint8 (default) or symmetric int8 (zero point 0). */
  activations?: 'uint8' | 'int8';
  /** Output tensors of Conv nodes that stay float32 (weights and input unquantised). */
  keepFloat?: readonly string[];
  /**
   * Which tensors get Q/DQ: 'compute' (default) only those a quantised Conv or Add reads or
   * writes, so the pooled features stay float32; 'all' every activation (the first version).
   */
  tensors?: 'compute' | 'all';
  /** Per-channel means of each Conv's input (by tensor name): corrects each bias for the mean weight-rounding error. */
  inputMeans?: Record<string, Float32Array>;
}

/** The tensors that get Q/DQ for `opts` (see QuantizeOptions.tensors and keepFloat). */
export function quantizedTensors(model: DecodedModel, opts: QuantizeOptions = {}): Set<string> {
  const all = activationTensors(model);
  if (opts.tensors === 'all' && !opts.keepFloat?.length) return new Set(all);
  const g = model.graph;
  const inits = new Set(g.initializer.map((t) => t.name));
  const keep = new Set(opts.keepFloat ?? []);
  const quantOp = (n: DecodedNode) => n.opType === 'Add' || (n.opType === 'Conv' && inits.has(n.input[1]!) && !keep.has(n.output[0]!));
  const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const written = (t: string): boolean => {
    const p = producer.get(t);
    if (!p) return false;
    return quantOp(p) || (ABSORBED.has(p.opType) && written(p.input[0]!));
  };
  const read = new Set(g.node.filter(quantOp).flatMap((n) => (n.opType === 'Conv' ? [n.input[0]!] : n.input)));
  return new Set(all.filter((t) => (opts.tensors === 'all' ? !keepOnly(g.node, t, keep) : written(t) || read.has(t))));
}

/** True when every reader of `t` is a kept Conv. */
function keepOnly(nodes: DecodedNode[], t: string, keep: Set<string>): boolean {
  const readers = nodes.filter((n) => n.input.includes(t));
  return readers.length > 0 && readers.every((n) => n.opType === 'Conv' && keep.has(n.output[0]!));
}

/** Scale and zero point of an activation range in the chosen activation type. */
export function activationParams(r: [number, number], type: 'uint8' | 'int8'): { scale: number; zeroPoint: number } {
  if (type === 'uint8') return uint8Params(r);
  const m = Math.max(Math.abs(r[0]), Math.abs(r[1]));
  return { scale: m > 0 ? m / 127 : 1, zeroPoint: 0 };
}

/**
 * Bias of a Conv corrected for the mean error of its rounded weights on its calibrated input:
 * b_c − Σ (ŵ − w)_{c,k,·} · E[x_k] (input channel k of output c's group; borders ignored).
 */
export function correctedBias(b: Float32Array, w: Float32Array, wq: Int8Array, scale: Float32Array, dims: number[], mean: Float32Array): Float32Array {
  const [co, cpg] = [dims[0]!, dims[1]!];
  const k = w.length / (co * cpg);
  const groups = mean.length / cpg;
  const opg = co / groups;
  const out = Float32Array.from(b);
  for (let c = 0; c < co; c++) {
    const s = scale.length === 1 ? scale[0]! : scale[c]!;
    const g = Math.floor(c / opg);
    let d = 0;
    for (let i = 0; i < cpg; i++) {
      const m = mean[g * cpg + i]!;
      for (let j = 0; j < k; j++) {
        const at = (c * cpg + i) * k + j;
        d += (wq[at]! * s - w[at]!) * m;
      }
    }
    out[c] = out[c]! - d;
  }
  return out;
}

/** The QDQ int8 version of `onnx` for the calibrated activation `ranges` (see the module comment). */
export function quantizeQdq(onnx: Uint8Array, ranges: Ranges, opts: QuantizeOptions = {}): Uint8Array {
  const qmax = opts.weightMax ?? 63;
  const actType = opts.activations ?? 'uint8';
  const zpType = actType === 'uint8' ? DataType.UINT8 : INT8;
  const model = decodeModel(onnx);
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const tensors = quantizedTensors(model, opts);
  const nodes: Uint8Array[] = [];
  const newInits: TensorProto[] = [];
  const dropped = new Set<string>();
  const actParams = new Map<string, { scale: number; zeroPoint: number }>();
  /** Name consumers read instead of activation t: its dequantised copy. */
  const dq = (t: string) => (tensors.has(t) ? `${t}__dq` : t);
  for (const t of tensors) {
    const r = ranges[t];
    if (!r) throw new Error(`quantize: no calibration range for tensor ${t}`);
    const p = activationParams(r, actType);
    actParams.set(t, p);
    const zp = actType === 'uint8' ? Uint8Array.of(p.zeroPoint) : Int8Array.of(p.zeroPoint);
    newInits.push(floatTensor(`${t}__s`, [], [p.scale]), tensor(`${t}__z`, [], zpType, zp));
  }
  const keep = new Set(opts.keepFloat ?? []);
  const quantConv = (n: DecodedNode) => n.opType === 'Conv' && inits.has(n.input[1]!) && actParams.has(n.input[0]!) && !keep.has(n.output[0]!);
  const dqNode = (name: string, axis: boolean) =>
    encodeNode({ opType: 'DequantizeLinear', input: [name, `${name}_s`, `${name}_z`], output: [`${name}__dq`], ...(axis ? { attribute: [{ name: 'axis', value: { type: 'int', i: 0 } }] } : {}) });
  for (const n of g.node) {
    let input = n.input.map(dq);
    if (quantConv(n)) {
      const wt = inits.get(n.input[1]!)!;
      const co = wt.dims[0]!;
      const wf = tensorFloats(wt);
      const perChannel = opts.perChannel ?? true;
      const { q, scale } = quantizeWeights(wf, perChannel ? co : 1, qmax);
      const wn = `${wt.name}__q`;
      const sd = perChannel ? [co] : [];
      newInits.push(tensor(wn, wt.dims, INT8, q), floatTensor(`${wn}_s`, sd, scale), tensor(`${wn}_z`, sd, INT8, new Int8Array(perChannel ? co : 1)));
      nodes.push(dqNode(wn, perChannel));
      dropped.add(wt.name);
      input = [dq(n.input[0]!), `${wn}__dq`];
      const bName = n.input[2];
      if (bName && inits.has(bName)) {
        let b = tensorFloats(inits.get(bName)!);
        const mean = opts.inputMeans?.[n.input[0]!];
        if (mean) b = correctedBias(b, wf, q, scale, wt.dims, mean);
        const sx = actParams.get(n.input[0]!)!.scale;
        const bs = Float32Array.from({ length: co }, (_, c) => (perChannel ? scale[c]! : scale[0]!) * sx);
        const bq = Int32Array.from(b, (v, c) => Math.round(v / bs[c]!));
        const bn = `${bName}__q`;
        newInits.push(tensor(bn, [co], INT32, bq), floatTensor(`${bn}_s`, [co], bs), tensor(`${bn}_z`, [co], INT32, new Int32Array(co)));
        nodes.push(dqNode(bn, true));
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
  // Weights still read by another node (or by a Conv kept in float32) stay.
  const stillUsed = new Set(g.node.filter((n) => !quantConv(n)).flatMap((n) => n.input));
  return spliceModel(model, {
    node: nodes,
    initializer: [...g.initializer.filter((t) => !dropped.has(t.name) || stillUsed.has(t.name)).map((t) => t.raw), ...newInits.map(encodeTensor)],
    input: g.input.map((v) => v.raw),
    output: g.output.map((v) => v.raw),
  });
}
