/**
 * Open Inference Protocol (KServe v2) request bodies: the JSON form and Triton's binary tensor
 * extension (`Inference-Header-Content-Length`: a JSON header, then each input's raw bytes in order,
 * BYTES elements as 4-byte little-endian length + bytes). Everything is checked and every problem
 * is a 400 naming the input and what is wrong.
 */
import { badRequest } from './errors.js';

export interface InferInput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, unknown>;
  data?: unknown;
}
export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: InferInput[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

/** A parsed input: FP32 values or BYTES elements. */
export type TensorValue = { kind: 'fp32'; shape: number[]; values: Float32Array } | { kind: 'bytes'; shape: number[]; items: Buffer[] };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The JSON header and the binary section of a request body. */
export function splitBody(body: unknown, headerLength: string | undefined): { req: InferRequest; binary?: Buffer } {
  let json: unknown = body;
  let binary: Buffer | undefined;
  if (Buffer.isBuffer(body)) {
    let n = body.length;
    if (headerLength !== undefined) {
      n = Number(headerLength);
      if (!Number.isInteger(n) || n < 0 || n > body.length) throw badRequest('BAD_HEADER_LENGTH', `Inference-Header-Content-Length ${headerLength} does not fit a ${body.length}-byte body`);
      binary = body.subarray(n);
    }
    try {
      json = JSON.parse(body.subarray(0, n).toString('utf8'));
    } catch (e) {
      throw badRequest('BAD_JSON', `request JSON does not parse: ${(e as Error).message}`);
    }
  }
  return { req: checkRequest(json), binary };
}

function checkRequest(x: unknown): InferRequest {
  if (!isObj(x)) throw badRequest('BAD_REQUEST', 'the inference request must be a JSON object with "inputs"');
  if (!Array.isArray(x.inputs) || x.inputs.length === 0) throw badRequest('NO_INPUTS', '"inputs" must be a non-empty array');
  if (x.id !== undefined && typeof x.id !== 'string') throw badRequest('BAD_REQUEST', '"id" must be a string');
  if (x.outputs !== undefined && (!Array.isArray(x.outputs) || !x.outputs.every((o) => isObj(o) && typeof o.name === 'string'))) {
    throw badRequest('BAD_OUTPUTS', '"outputs" must be an array of { "name": string }');
  }
  x.inputs.forEach((inp, i) => {
    if (!isObj(inp)) throw badRequest('BAD_INPUT', `inputs[${i}] must be an object`);
    if (typeof inp.name !== 'string') throw badRequest('BAD_INPUT', `inputs[${i}].name must be a string`);
    if (typeof inp.datatype !== 'string') throw badRequest('BAD_INPUT', `input "${inp.name}": datatype must be a string`);
    if (!Array.isArray(inp.shape) || !inp.shape.every((d) => Number.isInteger(d) && d >= 0)) throw badRequest('BAD_SHAPE', `input "${inp.name}": shape must be an array of non-negative integers`);
    if (inp.parameters !== undefined && !isObj(inp.parameters)) throw badRequest('BAD_INPUT', `input "${inp.name}": parameters must be an object`);
  });
  return x as unknown as InferRequest;
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Flatten nested JSON arrays (row-major), at most `limit` leaves. */
function flatten(data: unknown, limit: number, name: string): unknown[] {
  const out: unknown[] = [];
  const walk = (x: unknown, depth: number) => {
    if (depth > 8) throw badRequest('BAD_DATA', `input "${name}": data nested deeper than 8 levels`);
    if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else {
      if (out.length >= limit) throw badRequest('BAD_DATA', `input "${name}": more than the ${limit} elements its shape holds`);
      out.push(x);
    }
  };
  walk(data, 0);
  return out;
}

/** Decode one input (JSON data, or its slice of the binary section at `offset`). */
export function readInput(inp: InferInput, binary: Buffer | undefined, offset: number, maxElements: number): { value: TensorValue; used: number } {
  const n = count(inp.shape);
  if (n > maxElements) throw badRequest('TOO_LARGE', `input "${inp.name}": shape ${JSON.stringify(inp.shape)} holds ${n} elements, over the limit of ${maxElements}`);
  const binSize = inp.parameters?.binary_data_size;
  if (binSize !== undefined) {
    if (!binary) throw badRequest('NO_BINARY', `input "${inp.name}" has binary_data_size but the request has no binary section (Inference-Header-Content-Length)`);
    if (!Number.isInteger(binSize) || (binSize as number) < 0 || offset + (binSize as number) > binary.length) {
      throw badRequest('BAD_BINARY', `input "${inp.name}": binary_data_size ${String(binSize)} overruns the ${binary.length}-byte binary section`);
    }
    const bytes = binary.subarray(offset, offset + (binSize as number));
    return { value: fromBinary(inp, bytes, n), used: bytes.length };
  }
  if (inp.data === undefined) throw badRequest('NO_DATA', `input "${inp.name}": no "data"`);
  const flat = flatten(inp.data, n, inp.name);
  if (flat.length !== n) throw badRequest('BAD_DATA', `input "${inp.name}": ${flat.length} elements for shape ${JSON.stringify(inp.shape)} (${n})`);
  if (inp.datatype === 'FP32') {
    const values = new Float32Array(n);
    flat.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest('BAD_DATA', `input "${inp.name}": element ${i} is ${JSON.stringify(v)}, not a finite number`);
      values[i] = v;
    });
    return { value: { kind: 'fp32', shape: inp.shape, values }, used: 0 };
  }
  if (inp.datatype === 'BYTES') {
    const items = flat.map((v, i) => {
      if (typeof v !== 'string') throw badRequest('BAD_DATA', `input "${inp.name}": element ${i} is not a string (BYTES elements are base64 strings)`);
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw badRequest('BAD_BASE64', `input "${inp.name}": element ${i} is not base64`);
      return Buffer.from(v, 'base64');
    });
    return { value: { kind: 'bytes', shape: inp.shape, items }, used: 0 };
  }
  throw badRequest('BAD_DATATYPE', `input "${inp.name}": datatype ${inp.datatype} not supported (FP32 or BYTES)`);
}

function fromBinary(inp: InferInput, bytes: Buffer, n: number): TensorValue {
  if (inp.datatype === 'FP32') {
    if (bytes.length !== 4 * n) throw badRequest('BAD_BINARY', `input "${inp.name}": ${bytes.length} bytes for ${n} FP32 values (${4 * n})`);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      values[i] = bytes.readFloatLE(4 * i);
      if (!Number.isFinite(values[i])) throw badRequest('BAD_DATA', `input "${inp.name}": element ${i} is not finite`);
    }
    return { kind: 'fp32', shape: inp.shape, values };
  }
  if (inp.datatype === 'BYTES') {
    const items: Buffer[] = [];
    let o = 0;
    while (o < bytes.length) {
      if (o + 4 > bytes.length) throw badRequest('BAD_BINARY', `input "${inp.name}": truncated BYTES length prefix at byte ${o}`);
      const len = bytes.readUInt32LE(o);
      if (o + 4 + len > bytes.length) throw badRequest('BAD_BINARY', `input "${inp.name}": BYTES element ${items.length} (${len} bytes) overruns the input`);
      items.push(bytes.subarray(o + 4, o + 4 + len));
      o += 4 + len;
    }
    if (items.length !== n) throw badRequest('BAD_DATA', `input "${inp.name}": ${items.length} BYTES elements for shape ${JSON.stringify(inp.shape)} (${n})`);
    return { kind: 'bytes', shape: inp.shape, items };
  }
  throw badRequest('BAD_DATATYPE', `input "${inp.name}": datatype ${inp.datatype} not supported (FP32 or BYTES)`);
}

/** Serialise BYTES elements for the binary extension. */
export function bytesToBinary(items: Buffer[]): Buffer {
  return Buffer.concat(items.flatMap((b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  }));
}
