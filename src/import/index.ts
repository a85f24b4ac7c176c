/**
 * Weight importers: read a state dict (name → float32 tensor) from a safetensors file or a
 * PyTorch checkpoint, choosing the reader from the file's content.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ImportedTensor } from './dtype.js';
import { looksLikeSafetensors, readSafetensors } from './safetensors.js';
import { parseTorchCheckpoint, type TorchReadOptions } from './torch.js';
import { looksLikeZip } from './zip.js';

export { DTYPE_SIZE, floatToBf16, floatToHalf, halfToFloat, type DType, type ImportedTensor } from './dtype.js';
export {
  looksLikeSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  writeSafetensors,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type SafetensorsInput,
} from './safetensors.js';
export { parseTorchCheckpoint, readTorchCheckpoint, type TorchReadOptions } from './torch.js';
export { isTensorRef, unpickle, unpickleFrom, type StorageRef, type TensorRef, type UnpickleOptions } from './unpickle.js';
export { looksLikeZip, readZip, writeZip, type ZipArchive, type ZipEntry } from './zip.js';

export type StateDict = Map<string, ImportedTensor>;

/** {@link readStateDict} for bytes already in memory (`file` names it in errors and hints the format). */
export function parseStateDict(buf: Uint8Array, file = 'weights', opts: TorchReadOptions = {}): StateDict {
  if (looksLikeZip(buf)) return parseTorchCheckpoint(buf, file, opts);
  if (looksLikeSafetensors(buf) || path.extname(file).toLowerCase() === '.safetensors') return readSafetensors(buf, file);
  if (buf.length >= 2 && buf[0] === 0x80) return parseTorchCheckpoint(buf, file, opts);
  if (/\.(pth?|bin|ckpt)$/i.test(file)) return parseTorchCheckpoint(buf, file, opts);
  throw new Error(`${file}: unrecognised weights format (expected safetensors or a PyTorch .pth/.pt checkpoint)`);
}

/**
 * Reads a state dict from `file`: a safetensors file (8-byte header length, then `{`) or a
 * PyTorch checkpoint (a zip from torch >= 1.6, or the legacy pickle format). Every tensor is
 * converted to float32; the original element type is kept in `dtype`.
 */
export function readStateDict(file: string, opts: TorchReadOptions = {}): StateDict {
  return parseStateDict(readFileSync(file), file, opts);
}
