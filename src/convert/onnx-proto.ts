/**
 * A minimal protobuf *encoder* for the subset of ONNX's `ModelProto` that graft's converter emits.
 * Field numbers follow onnx/onnx.proto (proto2). No dependencies.
 *
 * Large byte fields (tensor `raw_data`) are kept by reference in a list of chunks and copied once,
 * when the top-level message is joined, so a 90 MB model is not copied at every nesting level.
 */

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, DOUBLE: 11 } as const;
export type DataTypeValue = (typeof DataType)[keyof typeof DataType];

/** ONNX AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: DataTypeValue;
  /** Little-endian element bytes (`raw_data`). */
  rawData: Uint8Array;
}

export type AttributeValue =
  | { type: 'float'; f: number }
  | { type: 'int'; i: number }
  | { type: 'string'; s: string }
  | { type: 'floats'; floats: number[] }
  | { type: 'ints'; ints: number[] };

export interface AttributeProto {
  name: string;
  value: AttributeValue;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  attribute?: AttributeProto[];
}

/** A dimension: a fixed size, or a symbolic name (`dim_param`). */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: DataTypeValue;
  /** Omit for an unknown shape. */
  shape?: Dim[];
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface OperatorSetId {
  domain?: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName?: string;
  producerVersion?: string;
  graph: GraphProto;
  /** Free-form key/value metadata (ModelProto.metadata_props), e.g. labels and preprocessing. */
  metadataProps?: { key: string; value: string }[];
}

// ---------------------------------------------------------------------------------------------
// Wire-level writer

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Bytes above this size are referenced rather than copied into the scratch buffer. */
const BIG = 4096;

const utf8 = new TextEncoder();

class Writer {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private flushed = 0;

  /** Total encoded length so far. */
  get length(): number {
    return this.flushed + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private flush(): void {
    if (this.pos > 0) {
      this.chunks.push(this.buf.subarray(0, this.pos));
      this.flushed += this.pos;
      this.buf = new Uint8Array(256);
      this.pos = 0;
    }
  }

  varint(value: number | bigint): void {
    let v: bigint;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new Error(`protobuf varint: ${value} is not a safe integer`);
      if (value >= 0 && value < 0x80000000) {
        // fast path
        this.ensure(5);
        let x = value;
        while (x > 0x7f) {
          this.buf[this.pos++] = (x & 0x7f) | 0x80;
          x >>>= 7;
        }
        this.buf[this.pos++] = x;
        return;
      }
      v = BigInt(value);
    } else {
      v = value;
    }
    v = BigInt.asUintN(64, v); // negative int64 → ten-byte two's complement
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  raw(bytes: Uint8Array): void {
    if (bytes.length >= BIG) {
      this.flush();
      this.chunks.push(bytes);
      this.flushed += bytes.length;
      return;
    }
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  // field helpers ---------------------------------------------------------------------------
  int(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, value, true);
    this.pos += 4;
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.raw(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, utf8.encode(value));
  }

  message(field: number, child: Writer): void {
    this.tag(field, WIRE_LEN);
    this.varint(child.length);
    child.flush();
    this.flush();
    for (const c of child.chunks) this.chunks.push(c);
    this.flushed += child.flushed;
  }

  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.flushed);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages (field numbers from onnx.proto)

function writeTensor(t: TensorProto): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  w.bytes(9, t.rawData); // raw_data
  return w;
}

function writeAttribute(a: AttributeProto): Writer {
  const w = new Writer();
  w.string(1, a.name); // name
  const v = a.value;
  switch (v.type) {
    case 'float':
      w.float(2, v.f); // f
      w.int(20, AttributeType.FLOAT); // type
      break;
    case 'int':
      w.int(3, v.i); // i
      w.int(20, AttributeType.INT);
      break;
    case 'string':
      w.string(4, v.s); // s
      w.int(20, AttributeType.STRING);
      break;
    case 'floats':
      for (const f of v.floats) w.float(7, f); // floats
      w.int(20, AttributeType.FLOATS);
      break;
    case 'ints':
      for (const i of v.ints) w.int(8, i); // ints
      w.int(20, AttributeType.INTS);
      break;
  }
  return w;
}

function writeNode(n: NodeProto): Writer {
  const w = new Writer();
  for (const i of n.input) w.string(1, i); // input
  for (const o of n.output) w.string(2, o); // output
  if (n.name) w.string(3, n.name); // name
  w.string(4, n.opType); // op_type
  for (const a of n.attribute ?? []) w.message(5, writeAttribute(a)); // attribute
  return w;
}

function writeValueInfo(v: ValueInfoProto): Writer {
  // TypeProto.Tensor { elem_type = 1; shape = 2 } ; TensorShapeProto { dim = 1 } ;
  // Dimension { dim_value = 1 | dim_param = 2 }
  const tensor = new Writer();
  tensor.int(1, v.elemType);
  if (v.shape) {
    const shape = new Writer();
    for (const d of v.shape) {
      const dim = new Writer();
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensor.message(2, shape);
  }
  const type = new Writer();
  type.message(1, tensor); // TypeProto.tensor_type
  const w = new Writer();
  w.string(1, v.name); // name
  w.message(2, type); // type
  return w;
}

function writeGraph(g: GraphProto): Writer {
  const w = new Writer();
  for (const n of g.node) w.message(1, writeNode(n)); // node
  w.string(2, g.name); // name
  for (const t of g.initializer) w.message(5, writeTensor(t)); // initializer
  for (const i of g.input) w.message(11, writeValueInfo(i)); // input
  for (const o of g.output) w.message(12, writeValueInfo(o)); // output
  return w;
}

/** Serialise a ModelProto to bytes (the contents of a `.onnx` file). */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion); // ir_version
  if (m.producerName) w.string(2, m.producerName); // producer_name
  if (m.producerVersion) w.string(3, m.producerVersion); // producer_version
  w.message(7, writeGraph(m.graph)); // graph
  for (const o of m.opsetImport) {
    const op = new Writer();
    if (o.domain) op.string(1, o.domain); // domain
    op.int(2, o.version); // version
    w.message(8, op); // opset_import
  }
  for (const p of m.metadataProps ?? []) {
    const e = new Writer();
    e.string(1, p.key);
    e.string(2, p.value);
    w.message(14, e); // metadata_props
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Tensor helpers

/** A float32 initializer (its little-endian bytes; a Float32Array is referenced, not copied). */
export function floatTensor(name: string, dims: number[], data: Float32Array | number[]): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(',')}]`);
  // A Float32Array is referenced, not copied (weights can be hundreds of MB): the caller hands
  // over arrays it no longer changes.
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  // Float32Array uses platform byte order; every platform Node supports is little-endian.
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

/** An int64 initializer. */
export function int64Tensor(name: string, dims: number[], data: number[]): TensorProto {
  const b = new BigInt64Array(data.length);
  data.forEach((v, i) => (b[i] = BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(b.buffer) };
}

/** One NodeProto's bytes (without a field tag), e.g. to splice into a decoded model (onnx-decode.ts). */
export function encodeNode(n: NodeProto): Uint8Array {
  return writeNode(n).finish();
}

/** A float64 initializer. */
export function doubleTensor(name: string, dims: number[], data: number[]): TensorProto {
  const f = Float64Array.from(data);
  return { name, dims, dataType: DataType.DOUBLE, rawData: new Uint8Array(f.buffer) };
}

/** One TensorProto's bytes (without a field tag). */
export function encodeTensor(t: TensorProto): Uint8Array {
  return writeTensor(t).finish();
}

/** One ValueInfoProto's bytes (without a field tag). */
export function encodeValueInfo(v: ValueInfoProto): Uint8Array {
  return writeValueInfo(v).finish();
}
