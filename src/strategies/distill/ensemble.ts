/**
 * A teacher made of several bundles (Hinton et al.'s ensemble teacher): its probabilities are the
 * mean of its members' probabilities, and its logits for the KD loss are the log of that mean.
 * Each member's log-probabilities are cached on their own (teacher-cache.ts), so adding a member to
 * an ensemble runs only the new one; the ensemble's identity is a hash of its members' identities.
 */
import { createHash } from 'node:crypto';
import type { Sample, Skipped } from '../../data/types.js';
import type { Reporter } from '../../util/log.js';
import { cachedTeacherLogits, type Teacher, type TeacherLogits } from './teacher-cache.js';

/** Mean of the members' probabilities; every member must read the same samples. */
export class TeacherEnsemble implements Teacher {
  readonly dir: string;
  readonly labels: string[];
  constructor(readonly members: Teacher[]) {
    if (members.length === 0) throw new Error('a teacher ensemble needs at least one bundle');
    this.labels = members[0]!.labels;
    for (const m of members.slice(1)) {
      if (m.labels.join('\n') !== this.labels.join('\n')) throw new Error(`${m.dir}: its classes (${m.labels.join(', ')}) differ from ${members[0]!.dir}'s (${this.labels.join(', ')}); every teacher of an ensemble must have the same classes in the same order`);
    }
    this.dir = members.map((m) => m.dir).join(',');
  }

  async probabilities(samples: Sample[], opts: { reporter?: Reporter; view?: string; cache?: boolean } = {}): Promise<{ probs: Float32Array; samples: Sample[]; skipped: Skipped[] }> {
    let sum: Float32Array | undefined;
    let first: { samples: Sample[]; skipped: Skipped[] } | undefined;
    for (const m of this.members) {
      const r = await m.probabilities(samples, opts);
      if (first && (r.samples.length !== first.samples.length || r.samples.some((s, i) => s !== first!.samples[i]))) throw new Error(`${m.dir}: read different images than ${this.members[0]!.dir} (${r.samples.length} vs ${first.samples.length})`);
      first ??= r;
      if (!sum) sum = Float32Array.from(r.probs);
      else for (let i = 0; i < sum.length; i++) sum[i] += r.probs[i]!;
    }
    const inv = 1 / this.members.length;
    for (let i = 0; i < sum!.length; i++) sum![i] *= inv;
    return { probs: sum!, samples: first!.samples, skipped: first!.skipped };
  }
}

/**
 * Log-probabilities of an ensemble teacher for every sample and view: each member's rows from its
 * own cache (computed where missing), combined as log(mean of the members' probabilities). One
 * member gives exactly its own cached rows.
 */
export async function ensembleTeacherLogits(members: Teacher[], samples: Sample[], o: { views?: readonly string[]; root?: string; reporter?: Reporter } = {}): Promise<TeacherLogits> {
  if (members.length === 0) throw new Error('a teacher ensemble needs at least one bundle');
  const parts: TeacherLogits[] = [];
  for (const m of members) parts.push(await cachedTeacherLogits(m, samples, o));
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  const logits = new Float32Array(first.logits.length);
  for (let i = 0; i < logits.length; i++) {
    // log Σ exp(l_j) / M, stabilised by the largest member log-probability.
    let mx = -Infinity;
    for (const p of parts) mx = Math.max(mx, p.logits[i]!);
    let s = 0;
    for (const p of parts) s += Math.exp(p.logits[i]! - mx);
    logits[i] = mx + Math.log(s / parts.length);
  }
  const teacherId = createHash('sha256').update(`ensemble\0${parts.map((p) => p.teacherId).join('\0')}`).digest('hex');
  return { logits, views: first.views, n: first.n, k: first.k, teacherId, computed: parts.reduce((a, p) => a + p.computed, 0), cached: parts.reduce((a, p) => a + p.cached, 0) };
}
