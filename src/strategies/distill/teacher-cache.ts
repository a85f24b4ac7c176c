/**
 * Teacher logits, computed once per (teacher, image, view) and kept in the feature store
 * (src/features/store.ts: content-addressed rows, CRC-checked, append-only shards; a torn or
 * corrupt row is a miss and is recomputed). The store of one teacher and view is keyed by the
 * teacher's identity — a sha256 of every file of its bundle, so a retrained or edited bundle
 * never reuses another's rows — and the view name; a row's key is the image's content hash.
 * A second `graft distill` with the same teacher and images runs no teacher pass at all.
 *
 * Rows are the teacher's log-probabilities: its logits up to a per-row constant, which the
 * softened softmax of the KD loss ignores (works for any bundle, whatever its head).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Sample, Skipped } from '../../data/types.js';
import { checkView } from '../../data/augment.js';
import { contentHash } from '../../features/extract.js';
import { FeatureStore, extractorId } from '../../features/store.js';
import { graftHome } from '../../util/fs.js';
import { silentReporter, type Reporter } from '../../util/log.js';

/** What the cache needs of a teacher: its bundle directory, labels, and probabilities per view (a `Classifier`). */
export interface Teacher {
  readonly dir: string;
  readonly labels: string[];
  probabilities(samples: Sample[], opts: { reporter?: Reporter; view?: string }): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[] }>;
}

export interface TeacherLogits {
  /** Row-major [views][n][k]: view v of sample i at ((v·n) + i)·k. */
  logits: Float32Array;
  views: string[];
  n: number;
  k: number;
  /** The teacher's bundle hash (the cache's key). */
  teacherId: string;
  /** Rows the teacher computed in this call / read from the cache. */
  computed: number;
  cached: number;
}

function bundleFiles(dir: string, rel = ''): string[] {
  const here = path.join(dir, rel);
  return fs
    .readdirSync(here, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.')) // temp files of an atomic write in progress
    .flatMap((e) => (e.isDirectory() ? bundleFiles(dir, path.join(rel, e.name)) : e.isFile() ? [path.join(rel, e.name)] : []))
    .sort();
}

/** sha256 over every file of a bundle directory (relative names and bytes): the teacher's identity. */
export function bundleContentHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of bundleFiles(dir)) {
    const bytes = fs.readFileSync(path.join(dir, f));
    h.update(`${f.split(path.sep).join('/')}\0${bytes.length}\0`).update(bytes);
  }
  return h.digest('hex');
}

/** The store directory id of one teacher's rows in one view. */
export function teacherStoreId(teacherId: string, view: string): string {
  return extractorId({ kind: 'teacher-log-probs', teacher: teacherId, view });
}

/**
 * The teacher's log-probabilities for every sample in every view, from the cache where it has
 * them; the misses go through the teacher once per view, and are stored. A sample the teacher
 * cannot read is an error naming the file.
 */
export async function cachedTeacherLogits(teacher: Teacher, samples: Sample[], o: { views?: readonly string[]; root?: string; reporter?: Reporter; teacherId?: string } = {}): Promise<TeacherLogits> {
  const reporter = o.reporter ?? silentReporter;
  const views = (o.views ?? ['none']).map((v) => checkView(v));
  const k = teacher.labels.length;
  const n = samples.length;
  const teacherId = o.teacherId ?? bundleContentHash(teacher.dir);
  const root = o.root ?? path.join(graftHome(), 'teacher-logits');
  const keys = await Promise.all(samples.map((s) => contentHash(s).catch((e: Error) => Promise.reject(new Error(`${s.id}: cannot read (${e.message})`)))));
  const logits = new Float32Array(views.length * n * k);
  let computed = 0;
  let cached = 0;
  for (const [v, view] of views.entries()) {
    const store = FeatureStore.open(root, teacherStoreId(teacherId, view), k);
    try {
      const missing: number[] = [];
      for (let i = 0; i < n; i++) {
        if (store.getInto(keys[i], logits, (v * n + i) * k)) cached++;
        else missing.push(i);
      }
      if (!missing.length) continue;
      reporter.info(`teacher: ${missing.length} image(s) in view ${view} (${n - missing.length} cached)`);
      const { probs, samples: used, skipped } = await teacher.probabilities(
        missing.map((i) => samples[i]),
        { reporter, view },
      );
      if (skipped.length) throw new Error(`the teacher could not read ${skipped[0].file}: ${skipped[0].reason}`);
      if (used.length !== missing.length) throw new Error(`the teacher classified ${used.length} of ${missing.length} images`);
      const row = new Float32Array(k);
      missing.forEach((i, j) => {
        for (let c = 0; c < k; c++) row[c] = Math.log(Math.max(probs[j * k + c], 1e-30));
        logits.set(row, (v * n + i) * k);
        store.put(keys[i], row);
      });
      computed += missing.length;
    } finally {
      store.close();
    }
  }
  return { logits, views, n, k, teacherId, computed, cached };
}
