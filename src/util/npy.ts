/** NumPy .npy (format 1.0) reader/writer for float32 / int32 / uint8 arrays, C order. */
type NpyArray = Float32Array | Int32Array | Uint8Array;
const DESCR: Record<string, string> = { Float32Array: '<f4', Int32Array: '<i4', Uint8Array: '|u1' };

export function encodeNpy(data: NpyArray, shape: number[]): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`npy: shape [${shape}] needs ${n} values, got ${data.length}`);
  const descr = DESCR[data.constructor.name];
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function decodeNpy(buf: Buffer, file = 'npy'): { data: NpyArray; shape: number[] } {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shapeM) throw new Error(`${file}: unreadable .npy header`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran-order arrays are not supported`);
  const shape = shapeM[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(off + hlen);
  const copy = (bytes: number) => {
    if (body.length < n * bytes) throw new Error(`${file}: truncated (${body.length} bytes, need ${n * bytes})`);
    return new Uint8Array(body.subarray(0, n * bytes)).buffer;
  };
  if (descr === '<f4') return { data: new Float32Array(copy(4)), shape };
  if (descr === '<i4') return { data: new Int32Array(copy(4)), shape };
  if (descr === '|u1') return { data: new Uint8Array(copy(1)), shape };
  throw new Error(`${file}: dtype ${descr} not supported (float32, int32, uint8)`);
}
