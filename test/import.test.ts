import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PYTHON, skipUnless } from './extras.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  floatToBf16,
  floatToHalf,
  halfToFloat,
  parseSafetensorsHeader,
  parseStateDict,
  parseTorchCheckpoint,
  readSafetensors,
  readStateDict,
  readTorchCheckpoint,
  readZip,
  unpickle,
  writeSafetensors,
  writeZip,
  type ImportedTensor,
} from '../src/import/index.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'graft-import-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const hasPython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'pass']).status === 0;
// Debian's python3-torch: skipped with the apt line on a Node-only machine, a failure under GRAFT_REQUIRE_EXTRAS=1 (CI).
const torchSkip = skipUnless('torch');

const REFUSAL = (file: string, g: string) =>
  `${file}: refusing to unpickle global ${g} (graft loads state dicts only, like torch.load(weights_only=True))`;

// ---------------------------------------------------------------------------------------------
// A small pickle writer, enough to hand-build state dicts (protocol 2 or 4) and hostile pickles.

class Pickle {
  private chunks: Buffer[] = [];
  constructor(readonly protocol: 2 | 4 = 2) {}
  raw(...b: number[]): this {
    this.chunks.push(Buffer.from(b));
    return this;
  }
  bytes(b: Buffer): this {
    this.chunks.push(b);
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    if (this.protocol >= 4 && b.length < 256) return this.raw(0x8c, b.length).bytes(b); // SHORT_BINUNICODE
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return this.raw(0x58).bytes(len).bytes(b); // BINUNICODE
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.raw(0x4d, n & 0xff, n >> 8); // BININT2
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return this.raw(0x4a).bytes(b); // BININT
  }
  global(module: string, name: string): this {
    if (this.protocol >= 4) return this.str(module).str(name).raw(0x93); // STACK_GLOBAL
    return this.raw(0x63).bytes(Buffer.from(`${module}\n${name}\n`, 'latin1')); // GLOBAL
  }
  mark = () => this.raw(0x28);
  tuple = () => this.raw(0x74);
  emptyTuple = () => this.raw(0x29);
  emptyDict = () => this.raw(0x7d);
  reduce = () => this.raw(0x52);
  setitems = () => this.raw(0x75);
  ints(xs: number[]): this {
    if (xs.length === 0) return this.emptyTuple();
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  /** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`. */
  tensor(storageType: string, key: string, numel: number, offset: number, shape: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel).tuple().raw(0x51); // BINPERSID
    this.int(offset).ints(shape).ints(stride).raw(0x89); // NEWFALSE
    this.global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.tuple().reduce();
  }
  /** The pickle bytes (PROTO …, STOP), with a FRAME for protocol 4. */
  build(): Buffer {
    const body = Buffer.concat([...this.chunks, Buffer.from([0x2e])]);
    if (this.protocol < 4) return Buffer.concat([Buffer.from([0x80, 2]), body]);
    const frame = Buffer.alloc(9);
    frame[0] = 0x95;
    frame.writeBigUInt64LE(BigInt(body.length), 1);
    return Buffer.concat([Buffer.from([0x80, 4]), frame, body]);
  }
}

const f32bytes = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
const u16bytes = (xs: number[]) => Buffer.from(new Uint16Array(xs).buffer);
const i64bytes = (xs: number[]) => Buffer.from(new BigInt64Array(xs.map(BigInt)).buffer);

/** A state-dict pickle exercising shared storages, a transposed view, an offset and several dtypes. */
function stateDictPickle(protocol: 2 | 4, wrap: boolean): Buffer {
  const p = new Pickle(protocol);
  if (wrap) p.emptyDict().mark().str('epoch').int(7).str('state_dict');
  p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  p.str('fc.weight').tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1]);
  p.str('fc.weight_t').tensor('FloatStorage', '0', 6, 0, [3, 2], [1, 3]); // same storage, transposed
  p.str('fc.bias').tensor('HalfStorage', '1', 4, 1, [3], [1]); // offset 1 into the storage
  p.str('bn.num_batches_tracked').tensor('LongStorage', '2', 1, 0, [], []);
  p.str('emb').tensor('BFloat16Storage', '3', 2, 0, [2], [1]);
  p.str('col').tensor('FloatStorage', '4', 3, 0, [3, 4], [1, 0]); // an expanded (stride 0) view
  p.setitems();
  if (wrap) p.setitems();
  return p.build();
}

const STORAGES: Record<string, Buffer> = {
  '0': f32bytes([0, 1.5, -2, 3.25, 4, 1e-3]),
  '1': u16bytes([0x7bff, 0x3c00, 0xc000, 0x0001]), // f16: 65504, 1, -2, 2^-24
  '2': i64bytes([42]),
  '3': u16bytes([0x3f80, 0x4049]), // bf16: 1, 3.140625
  '4': f32bytes([7, 8, 9]),
};

function checkpointZip(pkl: Buffer, opts: { prefix?: string; deflate?: boolean; storages?: Record<string, Buffer>; extra?: { name: string; data: Uint8Array }[] } = {}) {
  const prefix = opts.prefix ?? 'archive';
  const files = [
    { name: `${prefix}/data.pkl`, data: pkl, deflate: opts.deflate },
    ...Object.entries(opts.storages ?? STORAGES).map(([k, v]) => ({ name: `${prefix}/data/${k}`, data: v, deflate: opts.deflate })),
    { name: `${prefix}/version`, data: Buffer.from('3\n') },
    ...(opts.extra ?? []),
  ];
  return writeZip(files, { align: 64 });
}

/** A legacy (torch < 1.6) checkpoint: magic, protocol, sys info, the object, storage keys, storages. */
function legacyCheckpoint(sdPickle: Buffer): Buffer {
  const magic = new Pickle(2).raw(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).build(); // LONG1 0x1950a86a20f9469cfc6c
  const version = new Pickle(2).int(1001).build();
  const sysInfo = new Pickle(2).emptyDict().mark().str('protocol_version').int(1001).str('little_endian').raw(0x88).setitems().build();
  const keys = Object.keys(STORAGES);
  const keyList = new Pickle(2).raw(0x5d).mark();
  for (const k of keys) keyList.str(k);
  const data = keys.flatMap((k) => {
    const n = Buffer.alloc(8);
    const size = { '0': 4, '1': 2, '2': 8, '3': 2, '4': 4 }[k]!;
    n.writeBigInt64LE(BigInt(STORAGES[k].length / size));
    return [n, STORAGES[k]];
  });
  return Buffer.concat([magic, version, sysInfo, sdPickle, keyList.raw(0x65).build(), ...data]);
}

/** Rewrites a zip's end record into zip64 form (saturated fields + zip64 record and locator). */
function toZip64(zip: Uint8Array): Buffer {
  const z = Buffer.from(zip);
  const eocd = z.length - 22;
  const count = z.readUInt16LE(eocd + 10);
  const cdSize = z.readUInt32LE(eocd + 12);
  const cdOffset = z.readUInt32LE(eocd + 16);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeBigUInt64LE(BigInt(count), 24);
  rec.writeBigUInt64LE(BigInt(count), 32);
  rec.writeBigUInt64LE(BigInt(cdSize), 40);
  rec.writeBigUInt64LE(BigInt(cdOffset), 48);
  const loc = Buffer.alloc(20);
  loc.writeUInt32LE(0x07064b50, 0);
  loc.writeBigUInt64LE(BigInt(eocd), 8);
  loc.writeUInt32LE(1, 16);
  const end = Buffer.from(z.subarray(eocd));
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([z.subarray(0, eocd), rec, loc, end]);
}

function checkHandBuilt(sd: Map<string, ImportedTensor>) {
  assert.deepEqual([...sd.keys()], ['fc.weight', 'fc.weight_t', 'fc.bias', 'bn.num_batches_tracked', 'emb', 'col']);
  const w = sd.get('fc.weight')!;
  assert.deepEqual(w.shape, [2, 3]);
  assert.equal(w.dtype, 'F32');
  assert.deepEqual([...w.data], [...new Float32Array([0, 1.5, -2, 3.25, 4, 1e-3])]);
  assert.deepEqual([...sd.get('fc.weight_t')!.data], [...new Float32Array([0, 3.25, 1.5, 4, -2, 1e-3])]);
  assert.deepEqual(sd.get('fc.bias')!, { dtype: 'F16', shape: [3], data: new Float32Array([1, -2, 2 ** -24]) });
  assert.deepEqual(sd.get('bn.num_batches_tracked')!, { dtype: 'I64', shape: [], data: new Float32Array([42]) });
  assert.deepEqual(sd.get('emb')!, { dtype: 'BF16', shape: [2], data: new Float32Array([1, 3.140625]) });
  assert.deepEqual([...sd.get('col')!.data], [7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9]);
  // results never alias each other or the file
  assert.notEqual(w.data.buffer, sd.get('fc.weight_t')!.data.buffer);
}

// ---------------------------------------------------------------------------------------------

describe('half / bfloat16 codecs', () => {
  it('round-trips every half and every bfloat16 bit pattern', () => {
    for (let h = 0; h < 65536; h++) {
      const v = halfToFloat(h);
      if (Number.isNaN(v)) continue;
      assert.equal(floatToHalf(v), h, `half 0x${h.toString(16)}`);
      const bf = new Float32Array(new Uint32Array([h << 16]).buffer)[0];
      if (!Number.isNaN(bf)) assert.equal(floatToBf16(bf), h, `bf16 0x${h.toString(16)}`);
    }
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(floatToHalf(70000), 0x7c00); // overflow → inf
  });
});

describe('safetensors', () => {
  it('round-trips F32 through writeSafetensors / readStateDict, with metadata', async () => {
    const a = new Float32Array([1, -2.5, 3e-8, 4e20, 0, -0]);
    const buf = writeSafetensors({ 'conv.weight': { shape: [1, 2, 3], data: a }, empty: { shape: [0, 4], data: new Float32Array(0) } }, { format: 'pt' });
    const header = parseSafetensorsHeader(buf, 'x');
    assert.deepEqual(header.metadata, { format: 'pt' });
    assert.equal(header.dataStart % 8, 0);
    const file = path.join(tmp, 'w.safetensors');
    await writeFile(file, buf);
    const sd = readStateDict(file);
    assert.deepEqual(sd.get('conv.weight'), { dtype: 'F32', shape: [1, 2, 3], data: a });
    assert.deepEqual(sd.get('empty'), { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
  });

  it('decodes F16, BF16, F64 and I64 written as raw bytes', () => {
    const buf = writeSafetensors({
      h: { shape: [2, 2], dtype: 'F16', bytes: u16bytes([0x3c00, 0xc000, 0x3555, 0x7c00]) }, // 1, -2, 0.333251953125, inf
      b: { shape: [3], dtype: 'BF16', bytes: u16bytes([0x3f80, 0xc040, 0x0001]) }, // 1, -3, smallest bf16 subnormal
      d: { shape: [2], dtype: 'F64', bytes: Buffer.from(new Float64Array([0.1, -1e300]).buffer) },
      l: { shape: [2], dtype: 'I64', bytes: i64bytes([-5, 16777216]) },
    });
    const sd = readSafetensors(buf, 'raw.safetensors');
    assert.deepEqual([...sd.get('h')!.data], [1, -2, 0.333251953125, Infinity]);
    assert.deepEqual([...sd.get('b')!.data], [1, -3, new Float32Array(new Uint32Array([0x10000]).buffer)[0]]);
    assert.deepEqual([...sd.get('d')!.data], [Math.fround(0.1), -Infinity]);
    assert.deepEqual([...sd.get('l')!.data], [-5, 16777216]);
    assert.equal(sd.get('b')!.dtype, 'BF16');
  });

  it('rejects truncated and malformed files with the file, the tensor and the problem', () => {
    const good = writeSafetensors({ a: { shape: [4], data: new Float32Array(4) }, b: { shape: [2], data: new Float32Array(2) } });
    assert.throws(() => readSafetensors(good.subarray(0, good.length - 3), 'm.safetensors'), /m\.safetensors: tensor 'b': data_offsets \[16, 24\] run past the end of the data \(21 bytes; truncated file\?\)/);
    assert.throws(() => readSafetensors(good.subarray(0, 20), 'm.safetensors'), /m\.safetensors: truncated safetensors file \(header needs \d+ bytes, only 12 present\)/);
    assert.throws(() => readSafetensors(good.subarray(0, 5), 'm.safetensors'), /too short to be a safetensors file/);

    const withHeader = (h: unknown) => {
      const json = Buffer.from(typeof h === 'string' ? h : JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, Buffer.alloc(16)]);
    };
    assert.throws(() => readSafetensors(withHeader('{"a": '), 'j'), /j: invalid safetensors JSON header/);
    assert.throws(() => readSafetensors(withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), 's'), /s: tensor 'a': F32 \[3\] needs 12 bytes but data_offsets \[0, 16\] span 16/);
    assert.throws(() => readSafetensors(withHeader({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }), 's'), /s: tensor 'a': unknown dtype "Q7"/);
    assert.throws(() => readSafetensors(withHeader({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }), 's'), /tensor 'a': dtype F8_E4M3 is not supported/);
    assert.throws(() => readSafetensors(withHeader({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), 's'), /tensor 'a': shape must be a list of non-negative integers/);
    assert.throws(
      () => readSafetensors(withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), 's'),
      /s: tensors 'a' and 'b' overlap/,
    );
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1n << 60n);
    assert.throws(() => readSafetensors(huge, 'h'), /h: not a safetensors file \(header length \d+ is implausible\)/);
  });
});

describe('zip', () => {
  it('reads STORED and DEFLATE entries, aligned as PyTorch writes them', () => {
    const big = Buffer.alloc(10_000, 'abc');
    const z = writeZip([{ name: 'a/x', data: Buffer.from('hello') }, { name: 'a/y', data: big, deflate: true }], { align: 64 });
    const zip = readZip(z, 't.zip');
    assert.deepEqual(zip.entries.map((e) => [e.name, e.method]), [['a/x', 0], ['a/y', 8]]);
    assert.ok(zip.entry('a/y')!.compressedSize < 200);
    assert.equal(Buffer.from(zip.read('a/x')).toString(), 'hello');
    assert.ok(Buffer.from(zip.read('a/y')).equals(big));
    // STORED data starts 64-byte aligned
    assert.equal(Buffer.from(z).indexOf('hello') % 64, 0);
  });

  it('reports not-a-zip, truncation and corruption', () => {
    const z = writeZip([{ name: 'x', data: Buffer.alloc(1000, 7) }]);
    assert.throws(() => readZip(Buffer.from('just some text, not an archive at all'), 'n.zip'), /^Error: n\.zip: not a zip archive$/);
    assert.throws(() => readZip(z.subarray(0, 500), 't.zip'), /t\.zip: truncated zip archive \(no end-of-central-directory record/);
    const bad = Buffer.from(z);
    bad[100] ^= 1;
    assert.throws(() => readZip(bad, 'c.zip').read('x'), /c\.zip: CRC mismatch in x/);
  });
});

describe('restricted unpickler', () => {
  it('reads plain values (protocols 2 and 4)', () => {
    for (const proto of [2, 4] as const) {
      const p = new Pickle(proto).emptyDict().mark();
      p.str('n').int(70000).str('neg').int(-3).str('t').ints([1, 2, 3]).str('none').raw(0x4e);
      p.str('f').raw(0x47).bytes(Buffer.from([0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18])); // BINFLOAT pi
      p.str('big').raw(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1); // LONG1 2^64
      p.str('l').raw(0x5d, 0x94).mark().int(1).str('é').raw(0x65); // EMPTY_LIST MEMOIZE … APPENDS
      p.setitems();
      const v = unpickle(p.build()) as Map<string, unknown>;
      assert.equal(v.get('n'), 70000);
      assert.equal(v.get('neg'), -3);
      assert.deepEqual(v.get('t'), [1, 2, 3]);
      assert.equal(v.get('none'), null);
      assert.equal(v.get('f'), Math.PI);
      assert.equal(v.get('big'), 1n << 64n);
      assert.deepEqual(v.get('l'), [1, 'é']);
    }
  });

  it('reads hand-built state dicts (protocol 2 and 4), plain and wrapped, STORED and DEFLATE', () => {
    for (const proto of [2, 4] as const) {
      for (const wrap of [false, true]) {
        for (const deflate of [false, true]) {
          const zip = checkpointZip(stateDictPickle(proto, wrap), { deflate, prefix: wrap ? 'model' : 'archive' });
          checkHandBuilt(parseTorchCheckpoint(zip, `p${proto}.pth`));
        }
      }
    }
  });

  it('reads a .pth from disk via readStateDict and readTorchCheckpoint', async () => {
    const file = path.join(tmp, 'hand.pth');
    await writeFile(file, checkpointZip(stateDictPickle(2, false)));
    checkHandBuilt(readStateDict(file));
    checkHandBuilt(readTorchCheckpoint(file));
  });

  it('reads legacy (pre-1.6, non-zip) checkpoints and zip64 archives', () => {
    const legacy = legacyCheckpoint(stateDictPickle(2, false));
    checkHandBuilt(parseStateDict(legacy, 'old.pth'));
    assert.throws(() => parseStateDict(legacy.subarray(0, legacy.length - 10), 'old.pth'), /old\.pth: truncated checkpoint \(storage 4 needs 12 bytes/);
    assert.throws(() => parseStateDict(legacy.subarray(0, 200), 'old.pth'), /old\.pth: truncated pickle/);
    checkHandBuilt(parseStateDict(toZip64(checkpointZip(stateDictPickle(4, true))), 'z64.pth'));
  });

  it('honours a big-endian byteorder record', () => {
    const swap = (b: Buffer, size: number) => {
      const c = Buffer.from(b);
      if (size === 2) c.swap16();
      if (size === 4) c.swap32();
      if (size === 8) c.swap64();
      return c;
    };
    const storages = { '0': swap(STORAGES['0'], 4), '1': swap(STORAGES['1'], 2), '2': swap(STORAGES['2'], 8), '3': swap(STORAGES['3'], 2), '4': swap(STORAGES['4'], 4) };
    const zip = checkpointZip(stateDictPickle(2, false), { storages, extra: [{ name: 'archive/byteorder', data: Buffer.from('big') }] });
    checkHandBuilt(parseTorchCheckpoint(zip, 'be.pth'));
  });

  describe('refuses hostile pickles without running them', () => {
    let marker: string;
    before(() => {
      marker = path.join(tmp, 'PWNED');
    });
    const payloads = () => {
      const sh = `touch ${marker}`;
      const py = `open(${JSON.stringify(marker)}, 'w').write('x')`;
      return [
        { g: 'os.system', pkl: new Pickle(2).global('os', 'system').str(sh).raw(0x85).reduce().build(), live: true },
        { g: 'builtins.exec', pkl: new Pickle(4).global('builtins', 'exec').str(py).raw(0x85).reduce().build(), live: true },
        { g: 'builtins.eval', pkl: new Pickle(2).global('builtins', 'eval').str(py).raw(0x85).reduce().build(), live: true },
        { g: 'posix.system', pkl: new Pickle(4).global('posix', 'system').str(sh).raw(0x85).reduce().build(), live: true },
        {
          g: 'subprocess.Popen',
          pkl: new Pickle(2).global('subprocess', 'Popen').mark().str('touch').str(marker).raw(0x6c).raw(0x85).reduce().build(), // LIST
          live: true,
        },
        // INST: the class is named inline and called with the marked arguments
        { g: 'os.system', pkl: Buffer.concat([Buffer.from([0x80, 2, 0x28]), new Pickle(2).str(sh).build().subarray(2, -1), Buffer.from(`ios\nsystem\n.`, 'latin1')]), live: true },
      ];
    };

    it('a bare malicious pickle (and python would really run it)', async (t) => {
      for (const { g, pkl } of payloads()) {
        assert.throws(() => unpickle(pkl, { file: 'evil.pkl' }), (err: Error) => err.message === REFUSAL('evil.pkl', g));
        assert.equal(existsSync(marker), false, `${g} ran`);
      }
      if (!hasPython) return t.diagnostic('python3 not found: not checking that the payloads are live');
      // Sanity check that the payloads are real: CPython's own pickle does execute them.
      const { pkl } = payloads()[0];
      const r = spawnSync(PYTHON, ['-c', 'import pickle,sys; pickle.loads(sys.stdin.buffer.read())'], { input: pkl });
      assert.equal(r.status, 0, r.stderr?.toString());
      assert.equal(existsSync(marker), true, 'CPython did not run the payload, so the test proves nothing');
      await rm(marker);
    });

    it('inside a .pth checkpoint, as a state-dict value', async () => {
      // A valid-looking state dict whose second value is os.system("touch …").
      const p = new Pickle(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
      p.str('w').tensor('FloatStorage', '0', 6, 0, [6], [1]);
      p.str('x').global('os', 'system').str(`touch ${marker}`).raw(0x85).reduce().setitems();
      const file = path.join(tmp, 'evil.pth');
      await writeFile(file, checkpointZip(p.build()));
      assert.throws(() => readStateDict(file), (err: Error) => err.message === REFUSAL(file, 'os.system'));
      const q = new Pickle(4).emptyDict().mark().str('state_dict').global('builtins', 'exec').str(`open(${JSON.stringify(marker)}, 'w')`).raw(0x85).reduce().setitems();
      assert.throws(() => parseTorchCheckpoint(checkpointZip(q.build()), 'e.pt'), (err: Error) => err.message === REFUSAL('e.pt', 'builtins.exec'));
      assert.equal(existsSync(marker), false);
    });

    it('as a raw (non-zip) .pth file', async () => {
      const file = path.join(tmp, 'raw-evil.pth');
      await writeFile(file, payloads()[0].pkl);
      assert.throws(() => readStateDict(file), (err: Error) => err.message === REFUSAL(file, 'os.system'));
      assert.equal(existsSync(marker), false);
    });

    it('allow-listed globals cannot be misused', () => {
      // calling a storage type, or NEWOBJ of a function
      assert.throws(() => unpickle(new Pickle(2).global('torch', 'FloatStorage').emptyTuple().reduce().build(), { file: 'f' }), /f: REDUCE of torch\.FloatStorage is not supported/);
      assert.throws(() => unpickle(new Pickle(2).global('torch._utils', '_rebuild_tensor_v2').emptyTuple().raw(0x81).build(), { file: 'f' }), /NEWOBJ of torch\._utils\._rebuild_tensor_v2, which is not a class/);
      // persistent ids without a loader, copyreg extension codes
      assert.throws(() => unpickle(new Pickle(2).str('x').raw(0x51).build(), { file: 'f' }), /f: pickle references external data/);
      assert.throws(() => unpickle(new Pickle(2).raw(0x82, 1).build(), { file: 'f' }), /f: refusing pickle extension code/);
      assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x4b]), { file: 'f' }), /f: truncated pickle/);
      // resource bombs: a huge integer, a huge expanded view of a one-element storage
      const long4 = Buffer.alloc(5 + 100_000);
      long4[0] = 0x8b;
      long4.writeUInt32LE(100_000, 1);
      assert.throws(() => unpickle(Buffer.concat([Buffer.from([0x80, 2]), long4, Buffer.from('.')]), { file: 'f' }), /f: integer of 100000 bytes is too large/);
      const bomb = new Pickle(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', 1, 0, [1 << 15, 1 << 15], [0, 0]).setitems();
      assert.throws(() => parseTorchCheckpoint(checkpointZip(bomb.build(), { storages: { '0': f32bytes([1]) } }), 'b.pth'), /b\.pth: tensor 'w': expanded view \[32768,32768\] stride \[0,0\] is too large/);
      assert.throws(() => unpickle(Buffer.from([0x80, 2, 0xff]), { file: 'f' }), /f: unsupported pickle opcode 0xff at offset 2/);
    });
  });

  it('reports truncated checkpoints, zips that are not checkpoints, and bad tensors', async () => {
    const zip = checkpointZip(stateDictPickle(2, false));
    assert.throws(() => parseTorchCheckpoint(zip.subarray(0, zip.length - 100), 'cut.pth'), /cut\.pth: truncated zip archive/);
    const file = path.join(tmp, 'cut.pth');
    await writeFile(file, zip.subarray(0, 300));
    assert.throws(() => readStateDict(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: truncated zip archive`));

    const notCkpt = writeZip([{ name: 'readme.txt', data: Buffer.from('hi') }, { name: 'img/a.png', data: Buffer.alloc(3) }]);
    assert.throws(() => parseStateDict(notCkpt, 'w.pth'), /w\.pth: zip archive is not a PyTorch checkpoint \(no data\.pkl; entries: readme\.txt, img\/a\.png\)/);

    const noStorage = checkpointZip(stateDictPickle(2, false), { storages: { '0': STORAGES['0'] } });
    assert.throws(() => parseTorchCheckpoint(noStorage, 'ns.pth'), /ns\.pth: tensor 'fc\.bias': storage 1 is missing from the archive/);

    const p = new Pickle(2).emptyDict().mark().str('w').tensor('FloatStorage', '0', 6, 2, [2, 3], [3, 1]).setitems();
    assert.throws(() => parseTorchCheckpoint(checkpointZip(p.build()), 'o.pth'), /o\.pth: tensor 'w': shape \[2,3\] stride \[3,1\] offset 2 reads past its storage \(6 of 6 F32 elements present\)/);

    const noTensors = new Pickle(2).emptyDict().mark().str('epoch').int(3).str('lr').int(1).setitems();
    assert.throws(() => parseTorchCheckpoint(checkpointZip(noTensors.build()), 'e.pth'), /e\.pth: no state dict found in checkpoint \(top-level keys: epoch, lr/);

    assert.throws(() => parseStateDict(Buffer.from('hello world, definitely not weights'), 'x.bin'), /x\.bin: not a PyTorch checkpoint/);
    assert.throws(() => parseStateDict(Buffer.from('hello world'), 'x.dat'), /x\.dat: unrecognised weights format/);
  });
});

// ---------------------------------------------------------------------------------------------

const PY_FIXTURES = String.raw`
import base64, collections, json, struct, sys, zipfile
import torch
out = sys.argv[1]
torch.manual_seed(0)

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 5)

net = Net()
net.bn.running_mean.uniform_(-1, 1)
net.bn.running_var.uniform_(0.5, 2)
net.bn.num_batches_tracked += 17
sd = net.state_dict()
base = torch.randn(6, 7)
sd['extra.f16'] = torch.randn(3, 5).half()
sd['extra.bf16'] = torch.randn(2, 9).bfloat16()
sd['extra.f64'] = torch.randn(4, dtype=torch.float64)
sd['extra.transposed'] = base.t()                   # non-contiguous, shares storage with the next two
sd['extra.slice'] = base[2:5, 1:6]                  # storage offset + non-contiguous rows
sd['extra.strided'] = base[:, ::3]
sd['extra.perm'] = torch.randn(2, 3, 4).permute(2, 0, 1)
sd['extra.half_t'] = torch.randn(4, 6).half().t()
sd['extra.expanded'] = torch.randn(3, 1).expand(3, 4)
sd['extra.scalar'] = torch.tensor(2.5)
sd['extra.empty'] = torch.zeros(0, 3)

torch.save(sd, out + '/new.pth')
torch.save(sd, out + '/legacy.pth', _use_new_zipfile_serialization=False)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
torch.save({'epoch': 3, 'model': sd, 'optimizer': opt.state_dict()}, out + '/wrapped.pth')
torch.save(collections.OrderedDict(('module.' + k, v) for k, v in net.state_dict().items()), out + '/dataparallel.pth')
torch.save({'p': torch.nn.Parameter(torch.randn(3))}, out + '/param.pth')
torch.save(net, out + '/whole_model.pth')
torch.jit.save(torch.jit.script(net.conv), out + '/scripted.pt')

with zipfile.ZipFile(out + '/new.pth') as src, zipfile.ZipFile(out + '/deflated.pth', 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))

# safetensors written by hand (no safetensors package needed)
st = {'a.f32': torch.randn(2, 3), 'a.f16': torch.randn(5).half(), 'a.bf16': torch.randn(3, 2).bfloat16(), 'a.f64': torch.randn(2, dtype=torch.float64), 'a.i64': torch.arange(-3, 3)}
names = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64', torch.int64: 'I64'}
raw_of = lambda t: t.contiguous().view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.contiguous().numpy().tobytes()
header, blobs, off = {'__metadata__': {'format': 'pt'}}, [], 0
for k, t in st.items():
    b = raw_of(t)
    header[k] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
with open(out + '/hand.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))

exp = lambda d: {k: {'shape': list(v.shape), 'f32': base64.b64encode(v.float().contiguous().numpy().tobytes()).decode()} for k, v in d.items()}
json.dump({'sd': exp(sd), 'st': exp(st), 'dtypes': {k: str(v.dtype) for k, v in sd.items()}}, open(out + '/expected.json', 'w'))
`;

describe('real PyTorch files', () => {
  it('match torch.save / hand-written safetensors exactly', { skip: torchSkip, timeout: 120_000 }, async (t) => {
    const dir = path.join(tmp, 'torch');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const script = path.join(dir, 'make.py');
    await writeFile(script, PY_FIXTURES);
    const r = spawnSync(PYTHON, [script, dir], { encoding: 'utf8', timeout: 110_000 });
    assert.equal(r.status, 0, `python fixture script failed:\n${r.stderr}`);
    const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as {
      sd: Record<string, { shape: number[]; f32: string }>;
      st: Record<string, { shape: number[]; f32: string }>;
      dtypes: Record<string, string>;
    };
    const same = (got: Map<string, ImportedTensor>, want: Record<string, { shape: number[]; f32: string }>, what: string) => {
      assert.deepEqual([...got.keys()], Object.keys(want), `${what}: keys`);
      for (const [k, w] of Object.entries(want)) {
        const g = got.get(k)!;
        assert.deepEqual(g.shape, w.shape, `${what} ${k}: shape`);
        const gb = Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength);
        assert.ok(gb.equals(Buffer.from(w.f32, 'base64')), `${what} ${k}: values differ`);
      }
    };
    for (const f of ['new.pth', 'legacy.pth', 'deflated.pth', 'wrapped.pth']) same(readStateDict(path.join(dir, f)), expected.sd, f);
    const sd = readStateDict(path.join(dir, 'new.pth'));
    assert.equal(sd.get('extra.f16')!.dtype, 'F16');
    assert.equal(sd.get('extra.bf16')!.dtype, 'BF16');
    assert.equal(sd.get('bn.num_batches_tracked')!.dtype, 'I64');
    assert.deepEqual([...sd.get('bn.num_batches_tracked')!.data], [17]);
    same(readStateDict(path.join(dir, 'hand.safetensors')), expected.st, 'hand.safetensors');

    const dp = readStateDict(path.join(dir, 'dataparallel.pth'));
    assert.deepEqual([...dp.keys()], ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'fc.weight', 'fc.bias']);
    assert.deepEqual(readStateDict(path.join(dir, 'param.pth')).get('p')!.shape, [3]);

    const whole = path.join(dir, 'whole_model.pth');
    assert.throws(() => readStateDict(whole), (err: Error) => err.message.startsWith(REFUSAL(whole, '__main__.Net')) && /save model\.state_dict\(\) instead/.test(err.message));
    assert.throws(() => readStateDict(path.join(dir, 'scripted.pt')), /this is a TorchScript archive/);
    t.diagnostic(`compared ${Object.keys(expected.sd).length} state-dict tensors (${[...new Set(Object.values(expected.dtypes))].join(', ')}) bit-exactly`);
  });
});
