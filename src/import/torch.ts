/**
 * PyTorch checkpoint reader (`torch.save` output, `.pth` / `.pt`).
 *
 * The current format (torch ≥ 1.6) is a zip: `<archive>/data.pkl` is a pickle of the saved
 * object whose tensors point, through persistent ids `('storage', torch.FloatStorage, key,
 * location, numel)`, at raw little-endian storages in `<archive>/data/<key>`. The legacy format
 * (torch < 1.6) is a sequence of pickles followed by the storages' bytes. Both are read with
 * the restricted unpickler in `unpickle.ts`: only the globals a state dict needs are accepted
 * and nothing from the file is ever executed.
 */
import { readFileSync } from 'node:fs';
import { DTYPE_SIZE, MAX_ELEMENTS, contiguousStrides, gatherStrided, numelOf, toFloat32, type ImportedTensor } from './dtype.js';
import { isTensorRef, parseTorchPersistentId, unpickle, unpickleFrom, type StorageRef, type TensorRef } from './unpickle.js';
import { looksLikeZip, readZip } from './zip.js';

export type { ImportedTensor } from './dtype.js';

export interface TorchReadOptions {
  /** Take the state dict from this top-level key instead of guessing (`state_dict`, `model`, …). */
  key?: string;
  /** Strip a `module.` prefix shared by every key (DataParallel checkpoints). Default true. */
  stripModulePrefix?: boolean;
}

/** Keys under which training scripts commonly nest the model's state dict, in the order tried. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network', 'params'];

/** `torch.save`'s legacy magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Reads a PyTorch checkpoint file and returns its state dict as float32 tensors. */
export function readTorchCheckpoint(file: string, opts: TorchReadOptions = {}): Map<string, ImportedTensor> {
  return parseTorchCheckpoint(readFileSync(file), file, opts);
}

/** {@link readTorchCheckpoint} for bytes already in memory. */
export function parseTorchCheckpoint(buf: Uint8Array, file = 'checkpoint', opts: TorchReadOptions = {}): Map<string, ImportedTensor> {
  if (looksLikeZip(buf)) return parseZipCheckpoint(buf, file, opts);
  if (buf.length > 262 && Buffer.from(buf.buffer, buf.byteOffset + 257, 5).toString('latin1') === 'ustar') {
    throw new Error(`${file}: a tar-format PyTorch checkpoint (torch < 0.4) is not supported; re-save it with torch >= 1.6 (torch.save(torch.load(f), f2))`);
  }
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1] <= 5) return parseLegacyCheckpoint(buf, file, opts);
  if (buf.length < 4) throw new Error(`${file}: truncated or empty file (${buf.length} bytes), not a PyTorch checkpoint`);
  throw new Error(`${file}: not a PyTorch checkpoint (neither a zip archive nor a pickle)`);
}

/** Unpickles, turning a refusal into a hint when the global looks like a model class. */
function unpickleChecked(run: () => unknown): unknown {
  try {
    return run();
  } catch (err) {
    const msg = (err as Error).message;
    const m = /refusing to unpickle global (\S+)/.exec(msg);
    if (m && /^(torch\.nn\.|torchvision\.|timm\.|__main__\.|__torch__\.)/.test(m[1])) {
      throw new Error(`${msg}; this looks like a whole pickled model — save model.state_dict() instead`);
    }
    throw err;
  }
}

function parseZipCheckpoint(buf: Uint8Array, file: string, opts: TorchReadOptions): Map<string, ImportedTensor> {
  const zip = readZip(buf, file);
  const pkl = zip.entries
    .map((e) => e.name)
    .filter((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n))
    .sort((a, b) => a.length - b.length)[0];
  if (!pkl) {
    const names = zip.entries.slice(0, 5).map((e) => e.name);
    throw new Error(
      `${file}: zip archive is not a PyTorch checkpoint (no data.pkl; entries: ${names.join(', ') || 'none'}${zip.entries.length > 5 ? ', …' : ''})`,
    );
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  if (zip.has(`${prefix}constants.pkl`) || zip.entries.some((e) => e.name.startsWith(`${prefix}code/`))) {
    throw new Error(`${file}: this is a TorchScript archive (torch.jit.save), not a state dict; save module.state_dict() with torch.save instead`);
  }
  let bigEndian = false;
  if (zip.has(`${prefix}byteorder`)) {
    const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString('latin1').trim();
    if (order !== 'little' && order !== 'big') throw new Error(`${file}: unknown byteorder record ${JSON.stringify(order)}`);
    bigEndian = order === 'big';
  }
  const root = unpickleChecked(() =>
    unpickle(zip.read(pkl), { file, persistentLoad: (pid) => parseTorchPersistentId(pid, file) }),
  );
  const cache = new Map<string, Uint8Array>();
  const storageBytes = (ref: StorageRef, name: string): Uint8Array => {
    let b = cache.get(ref.key);
    if (!b) {
      const entry = `${prefix}data/${ref.key}`;
      if (!zip.has(entry)) throw new Error(`${file}: tensor '${name}': storage ${ref.key} is missing from the archive (${entry}; truncated or incomplete file?)`);
      b = zip.read(entry);
      cache.set(ref.key, b);
    }
    return b;
  };
  return materialize(findStateDict(root, file, opts), file, bigEndian, (t, name) => ({
    bytes: storageBytes(t.storage, name),
    offset: t.offset,
    limit: t.storage.numel,
  }));
}

function parseLegacyCheckpoint(buf: Uint8Array, file: string, opts: TorchReadOptions): Map<string, ImportedTensor> {
  const legacyHint = 'or re-save it with torch >= 1.6';
  let r = unpickleFrom(buf, { file });
  if (r.value !== LEGACY_MAGIC) throw new Error(`${file}: a pickle file, but not a torch.save checkpoint (no PyTorch magic number)`);
  r = unpickleFrom(buf, { file, start: r.end });
  if (r.value !== 1001) throw new Error(`${file}: unsupported legacy checkpoint protocol ${String(r.value)} (${legacyHint})`);
  r = unpickleFrom(buf, { file, start: r.end });
  const sysInfo = r.value;
  const bigEndian = sysInfo instanceof Map && sysInfo.get('little_endian') === false;
  const storages = new Map<string, StorageRef>();
  r = unpickleChecked(() =>
    unpickleFrom(buf, {
      file,
      start: r.end,
      persistentLoad: (pid) => {
        const ref = parseTorchPersistentId(pid, file);
        const seen = storages.get(ref.key);
        if (seen && seen.dtype !== ref.dtype) throw new Error(`${file}: storage ${ref.key} is used with two dtypes`);
        storages.set(ref.key, ref);
        return ref;
      },
    }),
  ) as { value: unknown; end: number };
  const root = r.value;
  r = unpickleFrom(buf, { file, start: r.end });
  if (!Array.isArray(r.value) || !r.value.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new Error(`${file}: corrupt legacy checkpoint (bad storage key list)`);
  }
  // Each storage: int64 element count, then its bytes, in the order of the key list.
  const data = new Map<string, Uint8Array>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = r.end;
  for (const k of r.value as (string | number)[]) {
    const key = String(k);
    const ref = storages.get(key);
    if (!ref) throw new Error(`${file}: corrupt legacy checkpoint (storage ${key} has no type)`);
    if (pos + 8 > buf.length) throw new Error(`${file}: truncated checkpoint (storage ${key} header at offset ${pos}, file has ${buf.length} bytes)`);
    const numel = Number(dv.getBigInt64(pos, !bigEndian));
    pos += 8;
    const bytes = numel * DTYPE_SIZE[ref.dtype];
    if (numel < 0 || pos + bytes > buf.length) throw new Error(`${file}: truncated checkpoint (storage ${key} needs ${bytes} bytes at offset ${pos}, file has ${buf.length})`);
    data.set(key, buf.subarray(pos, pos + bytes));
    pos += bytes;
  }
  return materialize(findStateDict(root, file, opts), file, bigEndian, (t, name) => {
    const b = data.get(t.storage.key);
    if (!b) throw new Error(`${file}: tensor '${name}': storage ${t.storage.key} is missing (truncated file?)`);
    const view = t.storage.view;
    const limit = b.length / DTYPE_SIZE[t.storage.dtype];
    if (!view) return { bytes: b, offset: t.offset, limit };
    if (view.offset + view.numel > limit) throw new Error(`${file}: tensor '${name}': storage view runs past its storage`);
    return { bytes: b, offset: view.offset + t.offset, limit: view.offset + view.numel };
  });
}

/** Picks the state dict out of the unpickled object: the dict itself, or one nested under a common key. */
function findStateDict(root: unknown, file: string, opts: TorchReadOptions): Map<string, TensorRef> {
  let dict: Map<unknown, unknown> | undefined;
  if (opts.key !== undefined) {
    const v = root instanceof Map ? root.get(opts.key) : undefined;
    if (!(v instanceof Map)) throw new Error(`${file}: checkpoint has no dict under key ${JSON.stringify(opts.key)}`);
    dict = v;
  } else {
    const hasTensors = (m: Map<unknown, unknown>) => [...m.values()].some(isTensorRef);
    const search = (v: unknown, depth: number): Map<unknown, unknown> | undefined => {
      if (!(v instanceof Map)) return undefined;
      if (hasTensors(v)) return v;
      if (depth === 0) return undefined;
      for (const k of WRAPPER_KEYS) {
        const found = search(v.get(k), depth - 1);
        if (found) return found;
      }
      return undefined;
    };
    dict = search(root, 2);
    if (!dict) {
      if (isTensorRef(root)) throw new Error(`${file}: checkpoint holds a single tensor, not a state dict`);
      const keys = root instanceof Map ? [...root.keys()].slice(0, 8).map(String) : [];
      throw new Error(
        `${file}: no state dict found in checkpoint` +
          (keys.length ? ` (top-level keys: ${keys.join(', ')}; pass { key } to pick one)` : ` (it holds ${Array.isArray(root) ? 'a list' : typeof root})`),
      );
    }
  }
  // Tensors, with nested dicts flattened as "a.b"; other values (ints, strings…) are skipped.
  const out = new Map<string, TensorRef>();
  const seen = new Set<unknown>();
  const walk = (m: Map<unknown, unknown>, prefix: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const [k, v] of m) {
      if (isTensorRef(v)) out.set(prefix + String(k), v);
      else if (v instanceof Map) walk(v, `${prefix}${String(k)}.`);
    }
  };
  walk(dict, '');
  if (out.size === 0) throw new Error(`${file}: the state dict holds no tensors`);
  const names = [...out.keys()];
  if ((opts.stripModulePrefix ?? true) && names.every((n) => n.startsWith('module.'))) {
    return new Map([...out].map(([k, v]) => [k.slice('module.'.length), v]));
  }
  return out;
}

type Locate = (t: TensorRef, name: string) => { bytes: Uint8Array; offset: number; limit: number };

/** Converts each tensor view to a row-major Float32Array, checking it against its storage. */
function materialize(tensors: Map<string, TensorRef>, file: string, bigEndian: boolean, locate: Locate): Map<string, ImportedTensor> {
  const out = new Map<string, ImportedTensor>();
  for (const [name, t] of tensors) {
    const { dtype } = t.storage;
    const size = DTYPE_SIZE[dtype];
    const n = numelOf(t.shape);
    const where = `${file}: tensor '${name}'`;
    if (n > MAX_ELEMENTS) throw new Error(`${where}: shape [${t.shape}] is too large (${n} elements)`);
    if (n === 0) {
      out.set(name, { dtype, shape: t.shape, data: new Float32Array(0) });
      continue;
    }
    const { bytes, offset, limit } = locate(t, name);
    const available = Math.min(limit, Math.floor(bytes.length / size));
    let last = offset;
    for (let i = 0; i < t.shape.length; i++) last += (t.shape[i] - 1) * t.stride[i];
    if (last >= available) {
      throw new Error(
        `${where}: shape [${t.shape}] stride [${t.stride}] offset ${t.storage.view ? offset : t.offset} reads past its storage ` +
          `(${available} of ${t.storage.numel} ${dtype} elements present${available < t.storage.numel ? '; truncated file?' : ''})`,
      );
    }
    const cs = contiguousStrides(t.shape);
    const contiguous = t.shape.every((d, i) => d === 1 || t.stride[i] === cs[i]);
    let data: Float32Array;
    if (contiguous) {
      data = toFloat32(bytes.subarray(offset * size, (offset + n) * size), dtype, bigEndian);
    } else {
      // A strided view can be far larger than its storage (expand() gives stride 0): bound it.
      if (n > 2 ** 26 && n > 8 * (last - offset + 1)) throw new Error(`${where}: expanded view [${t.shape}] stride [${t.stride}] is too large to materialise`);
      const span = toFloat32(bytes.subarray(offset * size, (last + 1) * size), dtype, bigEndian);
      data = gatherStrided(span, t.shape, t.stride, 0);
    }
    out.set(name, { dtype, shape: t.shape, data });
  }
  return out;
}
