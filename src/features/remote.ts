/**
 * Extraction somewhere else: the feature store's misses handed to a remote executor (a job queue
 * with workers on other machines, src/scale/) instead of the local engine. Hashing, cache lookups,
 * writing rows into the store and the skipped-file report stay where they are (extract.ts), so a
 * remote run fills the same store, with the same keys, as a local one.
 *
 * Commands route every store-filling extraction through one process-wide executor (set by the
 * CLI's `--redis`); a call with `store: null` (probes, timing, uncached prediction) stays local.
 */
import type { Backbone } from '../models/types.js';
import type { Sample } from '../data/types.js';

export interface RemoteItem {
  sample: Sample;
  /** Content hash: the feature-store key the row is written under. */
  key: string;
}

export interface RemoteRequest {
  backbone: Backbone;
  /** Augmented view name ('none' = the plain image). */
  view: string;
  /** The store id the rows must reproduce (backbone, weights, layer, preprocessing, view). */
  storeId: string;
  items: RemoteItem[];
  /** Rows for some items (indices into `items`), n×backbone.dim row-major. */
  onRows(items: number[], rows: Float32Array): void;
  /** An item whose file could not be decoded: skipped, as locally. */
  onSkipped(item: number, reason: string): void;
  /** Items finished so far, across all executors (for the progress bar). */
  onProgress?(done: number): void;
}

export interface RemoteExtractor {
  /** Human-readable place the work goes (e.g. `redis://host:6379 queue graft-extract`). */
  readonly where: string;
  /** Compute every item (rows or a skip for each); rejects when the work cannot be done. */
  extract(req: RemoteRequest): Promise<void>;
  close(): Promise<void>;
}

let current: RemoteExtractor | undefined;

/** Route store-filling extraction of this process to `r` (undefined: back to the local engine). */
export function setRemoteExtractor(r: RemoteExtractor | undefined): void {
  current = r;
}

export function remoteExtractor(): RemoteExtractor | undefined {
  return current;
}
