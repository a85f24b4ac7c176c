/**
 * A restricted unpickler, in the spirit of `torch.load(weights_only=True)`.
 *
 * It understands the pickle opcodes (protocols 0–5) that a PyTorch state dict can contain and
 * resolves globals only against a small allow-list, each entry implemented here in TypeScript
 * as a pure data constructor. Nothing from the file is ever executed: any other global
 * (`os.system`, `builtins.eval`, a model class, …) makes the whole load fail before anything
 * is called.
 *
 * Python values map to: str → string, int → number (bigint beyond 2^53), float → number,
 * None → null, bool → boolean, list/tuple → Array, dict/OrderedDict → Map, set → Set,
 * bytes → Uint8Array; tensors → {@link TensorRef}, storages → {@link StorageRef}.
 */
import { type DType } from './dtype.js';

/** A storage referenced by a persistent id `('storage', storage_type, key, location, numel[, view])`. */
export interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: DType;
  /** The Python storage class, e.g. `torch.FloatStorage`. */
  storageType: string;
  location: string;
  /** Elements in the (root) storage. */
  numel: number;
  /** Legacy (pre-1.6) checkpoints only: this storage is a view into another one. */
  view?: { key: string; offset: number; numel: number };
}

/** A tensor as described by `torch._utils._rebuild_tensor_v2`: a strided view of a storage. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  /** Offset into the storage, in elements. */
  offset: number;
  shape: number[];
  stride: number[];
  requiresGrad: boolean;
  parameter: boolean;
}

export function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'tensor';
}

interface GlobalImpl {
  /** Implementation when the pickle calls it (REDUCE / NEWOBJ / INST / OBJ). */
  call?: (args: unknown[], file: string) => unknown;
  /** A class (may be used with NEWOBJ). */
  isClass?: boolean;
  /** Storage classes: the element type. */
  storage?: DType;
  /** torch dtypes (torch.float32 …). */
  dtype?: DType;
}

/** An allow-listed Python global (a class, function, storage type or dtype). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly impl: GlobalImpl,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Attributes set on a dict-like object by BUILD (e.g. an OrderedDict state dict's `_metadata`). */
export const pyAttributes = new WeakMap<object, Map<unknown, unknown>>();

const fail = (file: string, msg: string): never => {
  throw new Error(`${file}: ${msg}`);
};

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function intList(v: unknown, file: string, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => isInt(x) && x >= 0)) fail(file, `tensor ${what} must be a tuple of non-negative integers`);
  return (v as number[]).slice();
}

function isStorageRef(v: unknown): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'storage';
}

function rebuildTensor(args: unknown[], file: string): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!isStorageRef(storage)) return fail(file, 'tensor rebuild without a storage (persistent id)');
  if (!isInt(offset) || offset < 0) return fail(file, 'tensor storage offset must be a non-negative integer');
  const shape = intList(size, file, 'size');
  const strides = intList(stride, file, 'stride');
  if (shape.length !== strides.length) fail(file, `tensor size [${shape}] and stride [${strides}] differ in rank`);
  return { kind: 'tensor', storage, offset, shape, stride: strides, requiresGrad: requiresGrad === true, parameter: false };
}

function asParameter(t: unknown, requiresGrad: unknown, file: string): TensorRef {
  if (!isTensorRef(t)) return fail(file, 'Parameter rebuilt from something that is not a tensor');
  return { ...t, parameter: true, requiresGrad: requiresGrad !== false };
}

function pairsToMap(args: unknown[], file: string): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (args.length === 0 || args[0] === null) return m;
  const src = args[0];
  if (src instanceof Map) return new Map(src);
  if (!Array.isArray(src)) return fail(file, 'OrderedDict built from something that is not a list of pairs');
  for (const kv of src) {
    if (!Array.isArray(kv) || kv.length !== 2) fail(file, 'OrderedDict built from something that is not a list of pairs');
    m.set(kv[0], kv[1]);
  }
  return m;
}

const STORAGE_TYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

const TORCH_DTYPES: Record<string, DType> = {
  float32: 'F32',
  float: 'F32',
  float64: 'F64',
  double: 'F64',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** The globals a state dict may reference, each implemented here (nothing is imported or run). */
const SAFE_GLOBALS = new Map<string, GlobalImpl>([
  ['collections.OrderedDict', { isClass: true, call: pairsToMap }],
  ['builtins.set', { isClass: true, call: (a) => new Set(Array.isArray(a[0]) ? a[0] : a[0] instanceof Set ? a[0] : []) }],
  ['builtins.frozenset', { isClass: true, call: (a) => new Set(Array.isArray(a[0]) ? a[0] : a[0] instanceof Set ? a[0] : []) }],
  [
    '_codecs.encode', // how protocol 2 pickles Python 3 bytes
    {
      call: (a, file) => {
        const [s, enc] = a;
        if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) return fail(file, '_codecs.encode is only supported for latin1 strings');
        return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
      },
    },
  ],
  ['torch._utils._rebuild_tensor', { call: rebuildTensor }],
  ['torch._utils._rebuild_tensor_v2', { call: rebuildTensor }],
  ['torch._utils._rebuild_parameter', { call: (a, file) => asParameter(a[0], a[1], file) }],
  ['torch._utils._rebuild_parameter_with_state', { call: (a, file) => asParameter(a[0], a[1], file) }],
  [
    'torch._tensor._rebuild_from_type_v2',
    {
      call: (a, file) => {
        const [func, newType, args] = a;
        if (!(func instanceof PyGlobal) || !func.impl.call || !Array.isArray(args)) return fail(file, '_rebuild_from_type_v2 with unexpected arguments');
        const t = func.impl.call(args, file);
        const isParam = newType instanceof PyGlobal && newType.qualname === 'torch.nn.parameter.Parameter';
        return isParam ? asParameter(t, true, file) : t;
      },
    },
  ],
  ['torch.Tensor', { isClass: true }],
  ['torch.nn.parameter.Parameter', { isClass: true, call: (a, file) => asParameter(a[0], a[1] ?? true, file) }],
  ['torch.Size', { isClass: true, call: (a, file) => intList(a[0] ?? [], file, 'Size') }],
  [
    'torch.device',
    { isClass: true, call: (a) => (a.length > 1 && a[1] !== null ? `${String(a[0])}:${String(a[1])}` : String(a[0])) },
  ],
  ...Object.entries(STORAGE_TYPES).map(([n, dt]): [string, GlobalImpl] => [`torch.${n}`, { isClass: true, storage: dt }]),
  ...Object.entries(TORCH_DTYPES).map(([n, dt]): [string, GlobalImpl] => [`torch.${n}`, { dtype: dt }]),
]);

/** Python 2 module names as they appear in old pickles. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins' };

export function refusalMessage(file: string, qualname: string): string {
  return `${file}: refusing to unpickle global ${qualname} (graft loads state dicts only, like torch.load(weights_only=True))`;
}

function resolveGlobal(module: string, name: string, file: string): PyGlobal {
  const mod = MODULE_ALIASES[module] ?? module;
  const impl = SAFE_GLOBALS.get(`${mod}.${name}`);
  if (!impl) throw new Error(refusalMessage(file, `${module}.${name}`));
  return new PyGlobal(mod, name, impl);
}

/**
 * Interprets a PyTorch persistent id: `('storage', storage_type, key, location, numel)`, with a
 * sixth `view_metadata` element in legacy checkpoints.
 */
export function parseTorchPersistentId(pid: unknown, file: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) return fail(file, 'unsupported persistent id (expected a torch storage)');
  const [, type, key, location, numel, view] = pid;
  if (!(type instanceof PyGlobal) || !type.impl.storage) return fail(file, 'persistent id without a storage type');
  if ((typeof key !== 'string' && !isInt(key)) || !isInt(numel) || numel < 0) return fail(file, 'malformed storage persistent id');
  const ref: StorageRef = {
    kind: 'storage',
    key: String(key),
    dtype: type.impl.storage,
    storageType: type.qualname,
    location: String(location),
    numel,
  };
  if (view !== undefined && view !== null) {
    if (!Array.isArray(view) || view.length !== 3 || !isInt(view[1]) || !isInt(view[2])) return fail(file, 'malformed storage view metadata');
    ref.view = { key: String(view[0]), offset: view[1], numel: view[2] };
  }
  return ref;
}

export interface UnpickleOptions {
  /** Names the file in error messages. */
  file?: string;
  /** Where the pickle starts in the buffer (default 0). */
  start?: number;
  /** Resolves persistent ids (BINPERSID / PERSID); without it they are an error. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** Longest integer literal accepted (a state dict never needs more; keeps bigint parsing cheap). */
const MAX_INT_BYTES = 1024;

const latin1 = { decode: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1') };
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a Python string literal body (the STRING opcode's repr) without its quotes. */
function unescapePy(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
    return simple[e] ?? `\\${e}`;
  });
}

/** Unpickles one pickle from `buf`; returns the value and the offset just past its STOP. */
export function unpickleFrom(buf: Uint8Array, opts: UnpickleOptions = {}): { value: unknown; end: number } {
  const file = opts.file ?? 'pickle';
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = opts.start ?? 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number, what: string) => {
    if (pos + n > buf.length) fail(file, `truncated pickle (${what} at offset ${pos} needs ${n} bytes, ${buf.length - pos} left)`);
  };
  const u8 = () => (need(1, 'byte'), buf[pos++]);
  const u16 = () => {
    need(2, 'uint16');
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4, 'uint32');
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8, 'uint64');
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(buf.length)) fail(file, `truncated pickle (length ${v} at offset ${pos - 8} exceeds the file)`);
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n, 'data');
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = () => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) fail(file, `truncated pickle (unterminated line at offset ${pos})`);
    const s = latin1.decode(buf.subarray(pos, nl));
    pos = nl + 1;
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  const str = (n: number) => {
    try {
      return utf8.decode(bytes(n));
    } catch {
      return fail(file, `invalid UTF-8 string at offset ${pos - n}`);
    }
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(file, `corrupt pickle (stack underflow at offset ${pos - 1})`);
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(file, `corrupt pickle (empty stack at offset ${pos - 1})`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) return fail(file, `corrupt pickle (no MARK at offset ${pos - 1})`);
    return stack.splice(m);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(file, `corrupt pickle (memo ${i} not set, offset ${pos})`);
    return memo.get(i);
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length > MAX_INT_BYTES) return fail(file, `integer of ${b.length} bytes is too large`);
    let v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseIntText = (s: string): number | bigint => {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d+$/.test(t) || t.length > 2.5 * MAX_INT_BYTES) return fail(file, `bad integer literal ${JSON.stringify(s.slice(0, 40))}`);
    const b = BigInt(t);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  const call = (callable: unknown, args: unknown, how: string): unknown => {
    if (!(callable instanceof PyGlobal)) return fail(file, `corrupt pickle (${how} of a non-callable at offset ${pos - 1})`);
    if (!callable.impl.call) return fail(file, `${how} of ${callable.qualname} is not supported`);
    if (!Array.isArray(args)) return fail(file, `corrupt pickle (${how} arguments are not a tuple)`);
    return callable.impl.call(args, file);
  };
  const persistent = (pid: unknown) => {
    if (!opts.persistentLoad) return fail(file, 'pickle references external data (persistent id) but none is available');
    return opts.persistentLoad(pid);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) return fail(file, `corrupt pickle (SETITEM on a non-dict at offset ${pos - 1})`);
    if (items.length % 2) fail(file, 'corrupt pickle (odd number of SETITEMS values)');
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const append = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target)) return fail(file, `corrupt pickle (APPEND to a non-list at offset ${pos - 1})`);
    for (const it of items) target.push(it);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const v = u8();
        if (v > 5) fail(file, `unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: // FRAME (a read-ahead hint; the bytes follow inline)
        u64();
        break;
      case 0x2e: {
        // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // --- constants and numbers
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4, 'int32');
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = u32();
        stack.push(signedLE(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8, 'float64');
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x49: {
        // INT (text); "I01"/"I00" are protocol 0's True/False
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : parseIntText(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(line()));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[+-]?nan$/i.test(s)) fail(file, `bad float literal ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }

      // --- strings and bytes
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x56: {
        // UNICODE (raw-unicode-escape, one line)
        const s = line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a?: string, b?: string) =>
          String.fromCodePoint(parseInt((a ?? b) as string, 16)),
        );
        stack.push(s);
        break;
      }
      case 0x53: {
        // STRING (quoted repr)
        const s = line();
        const q = s[0];
        if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail(file, 'bad STRING literal in pickle');
        stack.push(unescapePy(s.slice(1, -1)));
        break;
      }
      case 0x54: // BINSTRING (Python 2 str; decoded as latin1)
        stack.push(latin1.decode(bytes(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()).slice());
        break;

      // --- containers
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const m = new Map();
        setItems(m, items);
        stack.push(m);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(file, 'corrupt pickle (ADDITEMS to a non-set)');
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }

      // --- memo
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(parseIntText(line())), top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(Number(parseIntText(line()))));
        break;

      // --- globals and object construction (allow-listed only)
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name, file));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(file, 'corrupt pickle (STACK_GLOBAL needs two strings)');
        stack.push(resolveGlobal(module as string, name as string, file));
        break;
      }
      case 0x69: {
        // INST "module\nname\n" with arguments from the mark
        const module = line();
        const name = line();
        const g = resolveGlobal(module, name, file);
        stack.push(call(g, popMark(), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ: mark, class, args…
        const items = popMark();
        if (items.length === 0) fail(file, 'corrupt pickle (empty OBJ)');
        stack.push(call(items[0], items.slice(1), 'OBJ'));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (cls instanceof PyGlobal && !cls.impl.isClass) fail(file, `NEWOBJ of ${cls.qualname}, which is not a class`);
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail(file, 'NEWOBJ_EX with keyword arguments is not supported');
        if (cls instanceof PyGlobal && !cls.impl.isClass) fail(file, `NEWOBJ_EX of ${cls.qualname}, which is not a class`);
        stack.push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: {
        // BUILD: set state on the object below
        const state = pop();
        const inst = top();
        if (inst instanceof Map) {
          let dictState = state;
          if (Array.isArray(state) && state.length === 2) dictState = state[0] ?? state[1];
          if (dictState !== null && !(dictState instanceof Map)) fail(file, 'unsupported BUILD state for a dict');
          if (dictState instanceof Map) {
            const attrs = pyAttributes.get(inst) ?? new Map();
            for (const [k, v] of dictState) attrs.set(k, v);
            pyAttributes.set(inst, attrs);
          }
        } else if (!isTensorRef(inst)) {
          fail(file, `unsupported BUILD on ${inst instanceof PyGlobal ? inst.qualname : typeof inst} at offset ${at}`);
        }
        // tensors: Python attributes set on a tensor (rare) are ignored
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(persistent(line()));
        break;

      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        return fail(file, `refusing pickle extension code (copyreg registry) at offset ${at}`);
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        return fail(file, 'out-of-band pickle buffers (protocol 5) are not supported');
      default:
        return fail(file, `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at}`);
    }
  }
}

/** Unpickles `buf` (see {@link unpickleFrom}). */
export function unpickle(buf: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return unpickleFrom(buf, opts).value;
}
