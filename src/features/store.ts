/**
 * Content-addressed on-disk feature store (DESIGN §5).
 *
 * One directory per extractor (backbone + weights hash + layer + preprocessing + view, hashed into
 * `extractorId`). Rows are keyed by the sha256 of the image's bytes and appended to shard files
 * that only their writing process appends to; each record carries a CRC32 of its payload. Opening
 * the store scans record headers to build the index; a torn record at a shard's end (crash, Ctrl-C)
 * is ignored, and a row whose checksum fails is reported as a miss and recomputed, never trusted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

const MAGIC = 0x31524647; // 'GFR1' little-endian
const HEADER = 4 + 32 + 4 + 4; // magic, key, dim, crc

interface Loc {
  file: string;
  offset: number;
}

export interface StoreStats {
  hits: number;
  misses: number;
  corrupt: number;
  written: number;
}

/** A stable id for one feature extractor configuration. */
export function extractorId(parts: Record<string, unknown>): string {
  const keys = Object.keys(parts).sort();
  return createHash('sha256')
    .update(JSON.stringify(keys.map((k) => [k, parts[k]])))
    .digest('hex')
    .slice(0, 24);
}

export class FeatureStore {
  readonly stats: StoreStats = { hits: 0, misses: 0, corrupt: 0, written: 0 };
  private readonly index = new Map<string, Loc>();
  private readonly fds = new Map<string, number>();
  private writeFd: number | undefined;
  private writeFile: string | undefined;
  private writeOffset = 0;
  /** One reusable record buffer for reads and writes. */
  private readonly record: Buffer;

  private constructor(readonly dir: string, readonly dim: number) {
    this.record = Buffer.alloc(HEADER + 4 * dim);
  }

  /** Open (creating if needed) the store of one extractor under `root`. */
  static open(root: string, id: string, dim: number): FeatureStore {
    const dir = path.join(root, id);
    fs.mkdirSync(dir, { recursive: true });
    const store = new FeatureStore(dir, dim);
    store.scan();
    return store;
  }

  get size(): number {
    return this.index.size;
  }

  private recordSize(): number {
    return HEADER + 4 * this.dim;
  }

  private scan(): void {
    const rec = this.recordSize();
    const head = Buffer.alloc(HEADER);
    const shards = fs.readdirSync(this.dir).filter((f) => f.endsWith('.shard')).sort();
    for (const name of shards) {
      const file = path.join(this.dir, name);
      const size = fs.statSync(file).size;
      const fd = fs.openSync(file, 'r');
      try {
        for (let off = 0; off + rec <= size; off += rec) {
          fs.readSync(fd, head, 0, HEADER, off);
          if (head.readUInt32LE(0) !== MAGIC || head.readUInt32LE(36) !== this.dim) break; // not ours past here
          this.index.set(head.toString('hex', 4, 36), { file, offset: off });
        }
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  private fdFor(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = fs.openSync(file, 'r');
      this.fds.set(file, fd);
    }
    return fd;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The row for `key` (hex sha256 of the content), or undefined if absent or corrupt. */
  get(key: string): Float32Array | undefined {
    const out = new Float32Array(this.dim);
    return this.getInto(key, out, 0) ? out : undefined;
  }

  /**
   * Copy the row for `key` into `out` at `offset` (no allocation per row); false if absent or
   * corrupt (a corrupt row is dropped from the index so the caller recomputes it).
   */
  getInto(key: string, out: Float32Array, offset: number): boolean {
    const loc = this.index.get(key);
    if (!loc) {
      this.stats.misses++;
      return false;
    }
    const rec = this.record;
    const n = fs.readSync(this.fdFor(loc.file), rec, 0, rec.length, loc.offset);
    const payload = rec.subarray(HEADER);
    if (n !== rec.length || rec.readUInt32LE(0) !== MAGIC || rec.toString('hex', 4, 36) !== key || crc32(payload) !== rec.readUInt32LE(40)) {
      this.index.delete(key);
      this.stats.corrupt++;
      this.stats.misses++;
      return false;
    }
    this.stats.hits++;
    new Uint8Array(out.buffer, out.byteOffset + offset * 4, this.dim * 4).set(payload);
    return true;
  }

  /** Append a row. Writes go to this process's own shard; a torn tail is ignored on the next open. */
  put(key: string, row: Float32Array): void {
    if (row.length !== this.dim) throw new Error(`feature store: row has ${row.length} values, expected ${this.dim}`);
    if (this.writeFd === undefined) {
      this.writeFile = path.join(this.dir, `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}.shard`);
      this.writeFd = fs.openSync(this.writeFile, 'a');
      this.writeOffset = 0;
    }
    const rec = this.record;
    const payload = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
    rec.writeUInt32LE(MAGIC, 0);
    rec.write(key, 4, 32, 'hex');
    rec.writeUInt32LE(this.dim, 36);
    rec.writeUInt32LE(crc32(payload), 40);
    payload.copy(rec, HEADER);
    fs.writeSync(this.writeFd, rec);
    this.index.set(key, { file: this.writeFile!, offset: this.writeOffset });
    this.writeOffset += this.recordSize();
    this.stats.written++;
  }

  close(): void {
    if (this.writeFd !== undefined) {
      fs.fsyncSync(this.writeFd);
      fs.closeSync(this.writeFd);
      this.writeFd = undefined;
    }
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}
