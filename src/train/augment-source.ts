/**
 * Training rows from cached augmented views (DESIGN §2): every image's backbone rows for a fixed
 * set of views (src/data/augment.ts) live in the on-disk feature store, one store per view, and
 * each epoch reads every example's row for the view picked for it, batch by batch (rows are never
 * all held in memory). The pick is a seeded, per-image permutation of the views for each run of
 * `views.length` epochs, so every image sees every view exactly once per cycle, the same way in
 * every run with the same seed (a resumed run picks as an uninterrupted one). Evaluation
 * (`EVAL_EPOCH`) always reads the plain view `none`.
 */
import type { Backbone } from '../models/types.js';
import type { Sample, Skipped } from '../data/types.js';
import { checkView, firstViews, type AugmentView } from '../data/augment.js';
import { contentHash, extractFeatures, openStoreFor } from '../features/extract.js';
import type { FeatureStore } from '../features/store.js';
import { rng, shuffle } from '../util/rng.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { EVAL_EPOCH, type BatchSource } from './source.js';

export interface AugmentedSourceOptions {
  /** The first N views of AUGMENT_VIEWS (`--augment N`), or an explicit list. */
  views: number | readonly string[];
  /** Seed of the per-epoch view picks (default 0). */
  seed?: number;
  /** Feature store root (default: the store under GRAFT_HOME, shared with `graft train`). */
  root?: string;
  /** Images per backbone batch when computing missing rows (default 16). */
  batchSize?: number;
  reporter?: Reporter;
  /** Throw on the first undecodable file instead of dropping it. */
  strict?: boolean;
}

export interface AugmentedSource extends BatchSource {
  /** The samples behind the rows, in row order (input order minus `skipped`). */
  readonly samples: Sample[];
  /** Images dropped because they failed to read or decode in some view. */
  readonly skipped: Skipped[];
  /** The training views; `pick` returns an index into this list. */
  readonly views: readonly AugmentView[];
  /** Rows computed by the backbone while opening (all views) / already in the store. */
  readonly computed: number;
  readonly cached: number;
  /** Index into `views` of the view example `i` reads at training epoch `epoch` (≥ 0). */
  pick(i: number, epoch: number): number;
  /** Rows of the examples at `indices`, example `indices[j]` in view `views[viewOf[j]]` (a second view of a batch: contrastive pairs). */
  rowsInViews(indices: Int32Array, viewOf: ArrayLike<number>): Promise<Float32Array>;
  /** Close the stores' files. The source cannot be read afterwards. */
  close(): void;
}

/** A well-mixed 32-bit hash of a few integers (murmur3's finaliser over a running combine). */
function mix(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * A view of example `i` at `epoch` other than `a` (one of `v` ≥ 2 views), seeded: the partner of
 * the epoch's own pick in a two-view (contrastive) batch.
 */
export function otherView(i: number, epoch: number, a: number, v: number, seed = 0): number {
  if (v < 2) throw new Error('a second view needs at least 2 views');
  return (a + 1 + (mix(seed ^ 0x5bd1e995, i, epoch) % (v - 1))) % v;
}

/** The seeded view schedule: a fresh permutation of `v` views per example and cycle of `v` epochs. */
export function viewPicker(v: number, seed = 0): (i: number, epoch: number) => number {
  const perm = new Int32Array(v);
  return (i, epoch) => {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`view pick: epoch must be a training epoch ≥ 0, got ${epoch}`);
    if (v === 1) return 0;
    const cycle = Math.floor(epoch / v);
    for (let k = 0; k < v; k++) perm[k] = k;
    shuffle(perm, rng(mix(seed, i, cycle)));
    return perm[epoch % v]!;
  };
}

function resolveViews(views: number | readonly string[], audio: boolean): AugmentView[] {
  const list = typeof views === 'number' ? firstViews(views, audio) : views.map((v) => checkView(v));
  if (!list.length) throw new Error('augmented source: no views given');
  const dup = list.find((v, k) => list.indexOf(v) !== k);
  if (dup) throw new Error(`augmented source: view "${dup}" given twice`);
  return list;
}

/**
 * Make sure every view's rows of `samples` are in the feature store (computing the missing ones
 * with `backbone`, progress through the reporter), then serve them per batch. The backbone must
 * stay open while the source is used: a row found corrupt on reading is recomputed with it.
 */
export async function augmentedSource(samples: Sample[], backbone: Backbone, opts: AugmentedSourceOptions): Promise<AugmentedSource> {
  const views = resolveViews(opts.views, !!backbone.spec.preprocess.audio);
  const reporter = opts.reporter ?? silentReporter;
  const batchSize = opts.batchSize ?? 16;
  // `none` is always stored: evaluation reads it even when training does not.
  const stored: AugmentView[] = views.includes('none') ? views : ['none', ...views];
  const stores = new Map<AugmentView, FeatureStore>();
  try {
    for (const v of stored) stores.set(v, openStoreFor(backbone, v, opts.root));
    const skipped: Skipped[] = [];
    const bad = new Set<number>();
    const keys: string[] = new Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      try {
        keys[i] = await contentHash(samples[i]!);
      } catch (e) {
        if (opts.strict) throw new Error(`${samples[i]!.id}: cannot read (${(e as Error).message})`, { cause: e });
        skipped.push({ file: samples[i]!.id, reason: `cannot read (${(e as Error).message})` });
        bad.add(i);
      }
    }
    let computed = 0;
    let cached = 0;
    for (const v of stored) {
      const store = stores.get(v)!;
      const missing: number[] = [];
      for (let i = 0; i < samples.length; i++) if (!bad.has(i) && !store.has(keys[i]!)) missing.push(i);
      cached += samples.length - bad.size - missing.length;
      if (!missing.length) continue;
      const bar = reporter.progress(`features (${v})`, missing.length);
      try {
        // A few batches at a time: extractFeatures holds its whole result in memory.
        const chunk = batchSize * 4;
        for (let s = 0; s < missing.length; s += chunk) {
          const part = missing.slice(s, s + chunk);
          const m = await extractFeatures(part.map((i) => samples[i]!), backbone, { store, view: v, batchSize, strict: opts.strict });
          computed += m.computed;
          cached += m.cached;
          for (const k of m.skipped) skipped.push({ file: k.file, reason: `view ${v}: ${k.reason}` });
          for (const i of part) if (!store.has(keys[i]!)) bad.add(i);
          bar.tick(part.length);
        }
      } finally {
        bar.done();
      }
      reporter.info(`view ${v}: ${missing.length} rows computed`);
    }
    const rowOf: number[] = [];
    for (let i = 0; i < samples.length; i++) if (!bad.has(i)) rowOf.push(i);
    const used = rowOf.map((i) => samples[i]!);
    const usedKeys = rowOf.map((i) => keys[i]!);
    const dim = backbone.dim;
    const picker = viewPicker(views.length, opts.seed ?? 0);
    let closed = false;

    /** Row of example `r` in view `v` into `out` at row `j`; a corrupt row is recomputed once. */
    const readRow = async (r: number, v: AugmentView, out: Float32Array, j: number) => {
      const store = stores.get(v)!;
      if (store.getInto(usedKeys[r]!, out, j * dim)) return;
      const m = await extractFeatures([used[r]!], backbone, { store, view: v, strict: true });
      if (m.n !== 1 || !store.getInto(usedKeys[r]!, out, j * dim)) throw new Error(`${used[r]!.id}: view ${v} row is missing from the feature store (${store.dir}) and could not be recomputed`);
    };

    return {
      n: used.length,
      dim,
      y: Int32Array.from(used, (s) => s.label),
      samples: used,
      skipped,
      views,
      computed,
      cached,
      pick: picker,
      async rowsInViews(indices, viewOf) {
        if (closed) throw new Error('augmented source: read after close()');
        if (viewOf.length !== indices.length) throw new Error(`augmented source: ${viewOf.length} views for ${indices.length} examples`);
        const out = new Float32Array(indices.length * dim);
        for (let j = 0; j < indices.length; j++) {
          const r = indices[j]!;
          const v = views[viewOf[j]!];
          if (!(r >= 0 && r < used.length)) throw new Error(`augmented source: example ${r} out of range 0..${used.length - 1}`);
          if (v === undefined) throw new Error(`augmented source: no view ${viewOf[j]} (have ${views.length})`);
          await readRow(r, v, out, j);
        }
        return out;
      },
      async rows(indices, epoch) {
        if (closed) throw new Error('augmented source: read after close()');
        const out = new Float32Array(indices.length * dim);
        for (let j = 0; j < indices.length; j++) {
          const r = indices[j]!;
          if (!(r >= 0 && r < used.length)) throw new Error(`augmented source: example ${r} out of range 0..${used.length - 1}`);
          await readRow(r, epoch === EVAL_EPOCH ? 'none' : views[picker(r, epoch)]!, out, j);
        }
        return out;
      },
      close() {
        if (closed) return;
        closed = true;
        for (const s of stores.values()) s.close();
      },
    };
  } catch (e) {
    for (const s of stores.values()) s.close();
    throw e;
  }
}
