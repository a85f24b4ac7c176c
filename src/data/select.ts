/** Option handling shared by the loaders: class subsets, per-class limits, strict mode. */
import { createHash } from 'node:crypto';
import type { LoadOptions, Sample, Skipped } from './types.js';

/**
 * The classes to use, in order: all `known` ones, or `opts.classes` (each must be known).
 * Throws naming unknown classes and listing the known ones.
 */
export function chooseClasses(known: string[], opts: LoadOptions = {}, where = ''): string[] {
  if (!opts.classes) return known;
  const unknown = opts.classes.filter((c) => !known.includes(c));
  if (unknown.length > 0) {
    const names = unknown.map((c) => `'${c}'`).join(', ');
    throw new Error(
      `unknown class${unknown.length > 1 ? 'es' : ''} ${names}${where ? ` in ${where}` : ''} (known: ${known.join(', ')})`,
    );
  }
  const dup = opts.classes.find((c, i) => opts.classes!.indexOf(c) !== i);
  if (dup !== undefined) throw new Error(`class '${dup}' listed twice`);
  return [...opts.classes];
}

/** At least two classes are needed to train a classifier. */
export function requireTwoClasses(labels: string[], root: string): void {
  if (labels.length < 2) {
    throw new Error(`need at least 2 classes, found ${labels.length}${labels.length ? ` (${labels.join(', ')})` : ''} in ${root}`);
  }
}

/**
 * Keep at most `limit` samples per class. The choice is deterministic (ordered by a salted
 * sha1 of the id, independent of the split hash so all splits are thinned alike).
 */
export function limitPerClass(samples: Sample[], limit: number | undefined): Sample[] {
  if (limit === undefined) return samples;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`limitPerClass must be a positive integer, got ${limit}`);
  const key = (s: Sample) => createHash('sha1').update(`limit:${s.id}`, 'utf8').digest('hex');
  const byClass = new Map<number, { s: Sample; k: string }[]>();
  for (const s of samples) {
    const list = byClass.get(s.label) ?? [];
    list.push({ s, k: key(s) });
    byClass.set(s.label, list);
  }
  const keep = new Set<Sample>();
  for (const list of byClass.values()) {
    list.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    for (const { s } of list.slice(0, limit)) keep.add(s);
  }
  return samples.filter((s) => keep.has(s));
}

/** In strict mode any skipped file is an error (listing the first few). */
export function enforceStrict(skipped: Skipped[], opts: LoadOptions = {}, root = ''): void {
  if (!opts.strict || skipped.length === 0) return;
  const shown = skipped.slice(0, 10).map((s) => `  ${s.file}: ${s.reason}`);
  if (skipped.length > 10) shown.push(`  … and ${skipped.length - 10} more`);
  throw new Error(`${skipped.length} bad file${skipped.length > 1 ? 's' : ''} in ${root} (strict mode):\n${shown.join('\n')}`);
}

/** Stable sample order: by label, then id. */
export function sortSamples(samples: Sample[]): Sample[] {
  return samples.sort((a, b) => a.label - b.label || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
