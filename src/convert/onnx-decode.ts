/**
 * A minimal protobuf *decoder* for ONNX `ModelProto` (the counterpart of onnx-proto.ts), reading
 * only what graft needs to re-target a user's ONNX classifier: node inputs/outputs/op types,
 * initializer names, and graph input/output types. Everything else is kept as the original bytes
 * of its field, so `spliceModel` writes nodes, initializers (with attributes and tensors graft does
 * not interpret) and all model-level fields back byte-exact. Field numbers follow onnx/onnx.proto.
 */
import type { Dim } from './onnx-proto.js';

/** One encoded field: its number and its complete bytes (tag + value), for verbatim re-encoding. */
export interface RawField {
  field: number;
  bytes: Uint8Array;
}

export interface DecodedNode {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
  /** The encoded NodeProto (attributes included). */
  raw: Uint8Array;
}

export interface DecodedTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Weights live in files next to the model (`data_location = EXTERNAL`). */
  external: boolean;
  /** The encoded TensorProto. */
  raw: Uint8Array;
}

export interface DecodedValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor value (undefined for non-tensor types). */
  elemType?: number;
  /** Undefined when the shape is unknown; a dim without value or name is ''. */
  shape?: Dim[];
  /** The encoded ValueInfoProto. */
  raw: Uint8Array;
}

export interface DecodedGraph {
  name: string;
  node: DecodedNode[];
  initializer: DecodedTensor[];
  input: DecodedValueInfo[];
  output: DecodedValueInfo[];
  valueInfo: DecodedValueInfo[];
  /** Graph fields not listed above (doc string, sparse initializers, …), verbatim. */
  other: RawField[];
}

export interface DecodedModel {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  graph: DecodedGraph;
  /** Every model field except the graph, verbatim and in file order. */
  other: RawField[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: false });

class CorruptError extends Error {}

/** Reads the fields of one message; positions are absolute offsets into the file. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new CorruptError(`a number at byte ${this.pos} runs past the end`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result >= 2 ** 63 ? result - 2 ** 64 : result; // int64 two's complement
      mul *= 128;
    }
    throw new CorruptError(`a number at byte ${this.pos} is longer than 10 bytes`);
  }

  /** Next field: number, wire type, value range (for LEN fields the payload) and whole-field range. */
  next(): { field: number; wire: number; start: number; valueStart: number; valueEnd: number } {
    const start = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field < 1) throw new CorruptError(`invalid field number at byte ${start}`);
    const valueStart = this.pos;
    let valueEnd: number;
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        valueEnd = this.pos;
        break;
      case WIRE_FIXED64:
        valueEnd = this.pos + 8;
        break;
      case WIRE_FIXED32:
        valueEnd = this.pos + 4;
        break;
      case WIRE_LEN: {
        const len = this.varint();
        if (len < 0) throw new CorruptError(`negative length at byte ${start}`);
        return this.finish(field, wire, start, this.pos, this.pos + len);
      }
      default:
        throw new CorruptError(`unknown wire type ${wire} at byte ${start}`);
    }
    return this.finish(field, wire, start, valueStart, valueEnd);
  }

  private finish(field: number, wire: number, start: number, valueStart: number, valueEnd: number) {
    if (valueEnd > this.end) throw new CorruptError(`field ${field} at byte ${start} runs past the end of its message (byte ${this.end})`);
    this.pos = valueEnd;
    return { field, wire, start, valueStart, valueEnd };
  }

  get done(): boolean {
    return this.pos >= this.end;
  }
}

type Field = ReturnType<Reader['next']>;

function fields(buf: Uint8Array, start: number, end: number, visit: (f: Field, r: Reader) => void): void {
  const r = new Reader(buf, start, end);
  while (!r.done) visit(r.next(), r);
}

function str(buf: Uint8Array, f: Field): string {
  if (f.wire !== WIRE_LEN) throw new CorruptError(`field ${f.field} at byte ${f.start} should be a string`);
  return utf8.decode(buf.subarray(f.valueStart, f.valueEnd));
}

function int(buf: Uint8Array, f: Field): number {
  if (f.wire !== WIRE_VARINT) throw new CorruptError(`field ${f.field} at byte ${f.start} should be an integer`);
  return new Reader(buf, f.valueStart, f.valueEnd).varint();
}

/** A repeated integer field, packed or not. */
function ints(buf: Uint8Array, f: Field, into: number[]): void {
  if (f.wire === WIRE_VARINT) into.push(int(buf, f));
  else if (f.wire === WIRE_LEN) {
    const r = new Reader(buf, f.valueStart, f.valueEnd);
    while (!r.done) into.push(r.varint());
  } else throw new CorruptError(`field ${f.field} at byte ${f.start} should hold integers`);
}

function sub(buf: Uint8Array, f: Field): [number, number] {
  if (f.wire !== WIRE_LEN) throw new CorruptError(`field ${f.field} at byte ${f.start} should be a message`);
  return [f.valueStart, f.valueEnd];
}

function decodeNode(buf: Uint8Array, f: Field): DecodedNode {
  const n: DecodedNode = { name: '', opType: '', domain: '', input: [], output: [], raw: buf.subarray(f.valueStart, f.valueEnd) };
  fields(buf, ...sub(buf, f), (g) => {
    if (g.field === 1) n.input.push(str(buf, g));
    else if (g.field === 2) n.output.push(str(buf, g));
    else if (g.field === 3) n.name = str(buf, g);
    else if (g.field === 4) n.opType = str(buf, g);
    else if (g.field === 7) n.domain = str(buf, g);
  });
  return n;
}

function decodeTensor(buf: Uint8Array, f: Field): DecodedTensor {
  const t: DecodedTensor = { name: '', dims: [], dataType: 0, external: false, raw: buf.subarray(f.valueStart, f.valueEnd) };
  fields(buf, ...sub(buf, f), (g) => {
    if (g.field === 1) ints(buf, g, t.dims);
    else if (g.field === 2) t.dataType = int(buf, g);
    else if (g.field === 8) t.name = str(buf, g);
    else if (g.field === 14) t.external = int(buf, g) === 1;
  });
  return t;
}

/** ValueInfoProto { name = 1; type = 2 } → TypeProto { tensor_type = 1 } → { elem_type = 1; shape = 2 }. */
function decodeValueInfo(buf: Uint8Array, f: Field): DecodedValueInfo {
  const v: DecodedValueInfo = { name: '', raw: buf.subarray(f.valueStart, f.valueEnd) };
  fields(buf, ...sub(buf, f), (g) => {
    if (g.field === 1) v.name = str(buf, g);
    else if (g.field === 2) {
      fields(buf, ...sub(buf, g), (t) => {
        if (t.field !== 1) return;
        fields(buf, ...sub(buf, t), (tt) => {
          if (tt.field === 1) v.elemType = int(buf, tt);
          else if (tt.field === 2) {
            const shape: Dim[] = [];
            fields(buf, ...sub(buf, tt), (d) => {
              if (d.field !== 1) return;
              let dim: Dim = '';
              fields(buf, ...sub(buf, d), (x) => {
                if (x.field === 1) dim = int(buf, x);
                else if (x.field === 2) dim = str(buf, x);
              });
              shape.push(dim);
            });
            v.shape = shape;
          }
        });
      });
    }
  });
  return v;
}

function decodeGraph(buf: Uint8Array, f: Field): DecodedGraph {
  const g: DecodedGraph = { name: '', node: [], initializer: [], input: [], output: [], valueInfo: [], other: [] };
  fields(buf, ...sub(buf, f), (x) => {
    if (x.field === 1) g.node.push(decodeNode(buf, x));
    else if (x.field === 2) g.name = str(buf, x);
    else if (x.field === 5) g.initializer.push(decodeTensor(buf, x));
    else if (x.field === 11) g.input.push(decodeValueInfo(buf, x));
    else if (x.field === 12) g.output.push(decodeValueInfo(buf, x));
    else if (x.field === 13) g.valueInfo.push(decodeValueInfo(buf, x));
    else g.other.push({ field: x.field, bytes: buf.subarray(x.start, x.valueEnd) });
  });
  return g;
}

/**
 * Decode the bytes of a `.onnx` file. The result references `bytes` (no copies); errors name
 * `file` and say where the data stopped making sense.
 */
export function decodeModel(bytes: Uint8Array, file = 'model.onnx'): DecodedModel {
  let graph: DecodedGraph | undefined;
  const m: Omit<DecodedModel, 'graph'> = { irVersion: 0, opsetImport: [], producerName: '', other: [] };
  try {
    fields(bytes, 0, bytes.length, (f) => {
      if (f.field === 7) {
        graph = decodeGraph(bytes, f);
        return;
      }
      if (f.field === 1) m.irVersion = int(bytes, f);
      else if (f.field === 2) m.producerName = str(bytes, f);
      else if (f.field === 8) {
        const op = { domain: '', version: 0 };
        fields(bytes, ...sub(bytes, f), (o) => {
          if (o.field === 1) op.domain = str(bytes, o);
          else if (o.field === 2) op.version = int(bytes, o);
        });
        m.opsetImport.push(op);
      }
      m.other.push({ field: f.field, bytes: bytes.subarray(f.start, f.valueEnd) });
    });
  } catch (e) {
    if (e instanceof CorruptError) throw new Error(`${file}: not a valid ONNX model, the file is truncated or corrupt (${e.message})`);
    throw e;
  }
  if (!graph || !m.irVersion) throw new Error(`${file}: not an ONNX model (no ${graph ? 'ir_version' : 'graph'} in ${bytes.length} bytes)`);
  if (!graph.node.length || !graph.output.length) throw new Error(`${file}: the ONNX graph has no ${graph.node.length ? 'outputs' : 'nodes'}`);
  return { ...m, graph };
}

// ---------------------------------------------------------------------------------------------
// Re-encoding

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field holding `parts` (already encoded), concatenated. */
function lenField(field: number, parts: Uint8Array[]): Uint8Array[] {
  const len = parts.reduce((a, p) => a + p.length, 0);
  return [Uint8Array.from([...varintBytes(field * 8 + WIRE_LEN), ...varintBytes(len)]), ...parts];
}

/** The graph of a spliced model: encoded elements (kept verbatim or newly encoded). */
export interface SplicedGraph {
  node: Uint8Array[];
  initializer: Uint8Array[];
  input: Uint8Array[];
  output: Uint8Array[];
  valueInfo?: Uint8Array[];
}

/**
 * Bytes of `model` with its graph replaced: name and unknown graph fields are kept, the nodes,
 * initializers, inputs, outputs and value infos are the given encoded messages (typically `raw`
 * bytes of decoded ones, plus a few new ones from onnx-proto's encoders). Model fields are kept.
 */
export function spliceModel(model: DecodedModel, g: SplicedGraph): Uint8Array {
  const utf = new TextEncoder();
  const msg = (field: number, body: Uint8Array) => lenField(field, [body]);
  const graph: Uint8Array[] = [
    ...g.node.flatMap((b) => msg(1, b)),
    ...lenField(2, [utf.encode(model.graph.name)]),
    ...g.initializer.flatMap((b) => msg(5, b)),
    ...g.input.flatMap((b) => msg(11, b)),
    ...g.output.flatMap((b) => msg(12, b)),
    ...(g.valueInfo ?? []).flatMap((b) => msg(13, b)),
    ...model.graph.other.map((f) => f.bytes),
  ];
  const parts = [...model.other.map((f) => f.bytes), ...lenField(7, graph)];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The float32 values of an initializer (`raw_data` or packed `float_data`). */
export function tensorFloats(t: DecodedTensor): Float32Array {
  if (t.dataType !== 1) throw new Error(`tensor ${t.name}: data type ${t.dataType} is not float32`);
  if (t.external) throw new Error(`tensor ${t.name}: external data is not supported here`);
  let out: Float32Array | undefined;
  const floats: number[] = [];
  fields(t.raw, 0, t.raw.length, (g) => {
    if (g.field === 9 && g.wire === WIRE_LEN) {
      // A copy (Buffer.slice would be a view of the whole file), aligned for Float32Array.
      const b = new Uint8Array(g.valueEnd - g.valueStart);
      b.set(t.raw.subarray(g.valueStart, g.valueEnd));
      out = new Float32Array(b.buffer, 0, b.byteLength >> 2);
    } else if (g.field === 4) {
      const dv = new DataView(t.raw.buffer, t.raw.byteOffset);
      if (g.wire === WIRE_LEN) for (let p = g.valueStart; p < g.valueEnd; p += 4) floats.push(dv.getFloat32(p, true));
      else floats.push(dv.getFloat32(g.valueStart, true));
    }
  });
  return out ?? Float32Array.from(floats);
}

/** A node's encoded bytes with its inputs and outputs replaced (attributes and other fields kept verbatim). */
export function renameNodeIO(node: DecodedNode, input: string[], output: string[]): Uint8Array {
  const utf = new TextEncoder();
  const strField = (field: number, s: string) => {
    const b = utf.encode(s);
    return Uint8Array.from([...varintBytes(field * 8 + WIRE_LEN), ...varintBytes(b.length), ...b]);
  };
  const parts: Uint8Array[] = [...input.map((s) => strField(1, s)), ...output.map((s) => strField(2, s))];
  fields(node.raw, 0, node.raw.length, (g) => {
    if (g.field !== 1 && g.field !== 2) parts.push(node.raw.subarray(g.start, g.valueEnd));
  });
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
