/**
 * What coordinator and workers say to each other through the queue: one BullMQ job per shard of
 * images, naming the backbone so exactly that a worker can refuse one it would not reproduce bit
 * for bit, and one result per job (rows as raw float32 bytes, so nothing is lost in transit).
 */
import type { AudioFrontend } from '../audio/frontend.js';
import type { Backbone } from '../models/types.js';

export const PROTOCOL = 1;
export const DEFAULT_QUEUE = 'graft-extract';
/** A job whose worker refuses it carries this prefix in its failure reason (never retried). */
export const REFUSED = 'refused:';

/** How a worker reopens the coordinator's backbone. */
export interface BackboneRef {
  /** A registry name, a model-file reference, or `bundle:/abs/dir`. */
  ref: string;
  layer: string;
  /** The --weights the coordinator used (a file: absolute path). */
  weights?: string;
  /** A sound model's log-mel front-end: the worker reads the shard's sound files through it. */
  audio?: AudioFrontend;
}

export interface ShardItem {
  /** The sample's id (its relative path): augmented views are seeded by it. */
  id: string;
  /** Content hash (sha256): the worker checks the bytes it reads against it. */
  key: string;
  kind: 'encoded' | 'raw';
  raw?: { width: number; height: number; channels: 1 | 3 };
  /** The bytes, base64 (default transport). */
  bytes?: string;
  /** Or a path relative to the shared root both sides mount (--shared-root). */
  path?: string;
}

export interface ShardJob {
  protocol: number;
  /** The feature-store id the rows must reproduce: backbone, weights hash, layer, preprocessing, view. */
  storeId: string;
  backbone: BackboneRef;
  view: string;
  items: ShardItem[];
}

export interface ShardResult {
  protocol: number;
  dim: number;
  /** Indices (into the job's items) of the rows in `rows`, in order. */
  ok: number[];
  /** ok.length × dim float32, little-endian, base64. */
  rows: string;
  skipped: { item: number; reason: string }[];
  /** Who computed it (host/pid), for `queue status` and debugging. */
  worker: string;
  seconds: number;
}

export function backboneRef(b: Backbone, weights?: string): BackboneRef {
  const audio = b.spec.preprocess.audio;
  return { ref: b.spec.source ?? b.spec.name, layer: b.layer, ...(weights ? { weights } : {}), ...(audio ? { audio } : {}) };
}

export function encodeRows(rows: Float32Array): string {
  return Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength).toString('base64');
}

export function decodeRows(b64: string, n: number, dim: number): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  if (buf.byteLength !== n * dim * 4) throw new Error(`a shard result holds ${buf.byteLength} bytes, expected ${n}×${dim} float32`);
  const out = new Float32Array(n * dim);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** BullMQ connection options from a redis:// or rediss:// URL. */
export function redisConnection(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis ${url}: not a URL (expected redis://host:port[/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis ${url}: expected a redis:// or rediss:// URL`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new Error(`--redis ${url}: the database must be a number (redis://host:port/0)`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null, // BullMQ workers need blocking commands that never give up
  };
}
