/**
 * Hyper-parameter search over learning rate and weight decay (seed §6.3): a small grid or a seeded
 * log-uniform random search. Every trial trains with early stopping on the validation split and is
 * reported; the winner is picked on validation accuracy (ties: lower validation loss) — never on
 * the test split, which the search does not see.
 */
import { rng } from '../util/rng.js';
import { silentReporter, type Reporter } from '../util/log.js';

export type SearchKind = 'grid' | 'random';

export interface SearchCandidate {
  lr: number;
  weightDecay: number;
}

export interface SearchSpaceOptions {
  /** Grid values, or [low, high] for random search (log-uniform). */
  lr?: number[];
  weightDecay?: number[];
  /** Random search: number of trials (default 8). */
  trials?: number;
  seed?: number;
}

/** Default grid around the recipes' defaults (AdamW). */
export const DEFAULT_LR_GRID = [1e-3, 3e-3, 1e-2];
export const DEFAULT_WD_GRID = [1e-4, 1e-2, 5e-2];

/** The trials to run: a grid's cross product, or `trials` random log-uniform draws. */
export function searchCandidates(kind: SearchKind, o: SearchSpaceOptions = {}): SearchCandidate[] {
  if (kind === 'grid') {
    const lrs = o.lr ?? DEFAULT_LR_GRID;
    const wds = o.weightDecay ?? DEFAULT_WD_GRID;
    return lrs.flatMap((lr) => wds.map((weightDecay) => ({ lr, weightDecay })));
  }
  const [lrLo, lrHi] = range(o.lr ?? [1e-4, 3e-2], 'lr');
  const [wdLo, wdHi] = range(o.weightDecay ?? [1e-5, 1e-1], 'weight decay');
  const r = rng(o.seed ?? 0);
  const logU = (lo: number, hi: number) => Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo)));
  return Array.from({ length: o.trials ?? 8 }, () => ({ lr: logU(lrLo, lrHi), weightDecay: logU(wdLo, wdHi) }));
}

function range(v: number[], what: string): [number, number] {
  if (v.length !== 2 || !(v[0] > 0 && v[1] >= v[0])) throw new Error(`random search: ${what} range must be two positive numbers low,high (got ${v.join(',')})`);
  return [v[0], v[1]];
}

export interface TrialResult extends SearchCandidate {
  valAccuracy: number;
  valLoss: number;
  epochs: number;
  seconds: number;
}

/**
 * Run `trial` for every candidate (progress and one line per trial on `reporter`), keep the best
 * model (by validation accuracy, then loss) and release the others via `dispose`. `trial` must evaluate on validation data only.
 */
export async function runSearch<M>(
  candidates: SearchCandidate[],
  trial: (c: SearchCandidate, index: number) => Promise<{ model: M; valAccuracy: number; valLoss: number; epochs: number }>,
  dispose: (m: M) => void,
  reporter: Reporter = silentReporter,
): Promise<{ best: TrialResult; model: M; trials: TrialResult[] }> {
  if (candidates.length === 0) throw new Error('search: no candidates to try');
  const bar = reporter.progress('search trials', candidates.length);
  const trials: TrialResult[] = [];
  let best: { t: TrialResult; model: M } | undefined;
  for (const [i, c] of candidates.entries()) {
    const t0 = performance.now();
    const r = await trial(c, i);
    const t: TrialResult = { ...c, valAccuracy: r.valAccuracy, valLoss: r.valLoss, epochs: r.epochs, seconds: (performance.now() - t0) / 1000 };
    trials.push(t);
    bar.tick();
    reporter.info(`  trial ${i + 1}: lr ${t.lr.toExponential(1)} wd ${t.weightDecay.toExponential(1)} → val ${(100 * t.valAccuracy).toFixed(2)}% (${t.epochs} epochs)`);
    const better = !best || t.valAccuracy > best.t.valAccuracy || (t.valAccuracy === best.t.valAccuracy && t.valLoss < best.t.valLoss);
    if (better) {
      if (best) dispose(best.model);
      best = { t, model: r.model };
    } else dispose(r.model);
  }
  bar.done();
  return { best: best!.t, model: best!.model, trials };
}
