/** Shared data-layer types: samples, datasets and loading options. */
import type { AudioFrontend, AudioSettings } from '../audio/frontend.js';

export type Split = 'train' | 'val' | 'test';

/** One labelled example; pixels are loaded lazily (streaming: never hold all decoded images). */
export interface Sample {
  /** Stable relative path with '/' separators, or 'idx:<file>#<index>' for IDX datasets. */
  id: string;
  /** Index into `Dataset.labels`. */
  label: number;
  split: Split;
  /** Encoded image bytes (kind 'encoded') or raw 8-bit pixels (kind 'raw', see `raw`). */
  load(): Promise<Buffer>;
  kind: 'encoded' | 'raw';
  /** The file the bytes are read from (absolute), when the sample is one file. */
  file?: string;
  /** Geometry of raw pixels; present when kind is 'raw'. */
  raw?: { width: number; height: number; channels: 1 | 3 };
}

/** A candidate file that was not used, and why. */
export interface Skipped {
  file: string;
  reason: string;
}

export interface Dataset {
  root: string;
  labels: string[];
  samples: Sample[];
  skipped: Skipped[];
  /** Set when the folder holds sound files: the front-end (defaults + LoadOptions.audio) they go through. */
  audio?: AudioFrontend;
  /** `--duration auto`: the clip length was the median of this many training files. */
  audioAuto?: { files: number; seconds: number };
}

export interface LoadOptions {
  /** Percentage of files assigned to validation (default 10). */
  valPercent?: number;
  /** Percentage of files assigned to test (default 10). */
  testPercent?: number;
  /** Subset of classes, in that order; unknown names are an error listing the known ones. */
  classes?: string[];
  /** Any skipped file is an error. */
  strict?: boolean;
  /** Keep at most this many samples per class (deterministic choice). */
  limitPerClass?: number;
  /**
   * Images need no labels (extraction, clustering, an unlabelled target domain): one class folder
   * is enough, and a folder holding only image files is read as one class named after it.
   */
  unlabelled?: boolean;
  /** Audio front-end settings (--sample-rate, --n-fft, …, --duration S|auto) for a folder of sound files. */
  audio?: AudioSettings;
}
