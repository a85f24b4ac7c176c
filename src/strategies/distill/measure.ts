/** What `graft distill` reports per model: test accuracy, parameters, bundle size and images/s at batch 1 and 16, all through `Classifier` (images → probabilities) so the three models are timed alike. */
import fs from 'node:fs';
import path from 'node:path';
import type { Sample } from '../../data/types.js';
import { Classifier } from '../../recipes/predict.js';
import { TeacherEnsemble } from './ensemble.js';

/** What timing and scoring need of a model: images → probabilities (a Classifier, a TeacherEnsemble). */
type Probabilities = Pick<Classifier, 'probabilities'>;

export interface ModelFigures {
  bundle: string;
  accuracy: number;
  params: number;
  bundleBytes: number;
  imgPerSec: { '1': number; '16': number };
}

export function argmaxAccuracy(probs: Float32Array, samples: Sample[], k: number): number {
  let ok = 0;
  samples.forEach((s, i) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
    if (best === s.label) ok++;
  });
  return samples.length ? ok / samples.length : 0;
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((a, e) => a + (e.isDirectory() ? dirBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
}

/** Images/s of `c` on `images` samples (cycled) at `batch` per call, after one warm-up call; no feature cache. */
export async function imagesPerSecond(c: Probabilities, samples: Sample[], batch: number, images: number): Promise<number> {
  await c.probabilities(samples.slice(0, batch), { cache: false }); // warm-up
  const t = performance.now();
  let done = 0;
  while (done < images) {
    const s = Array.from({ length: batch }, (_, i) => samples[(done + i) % samples.length]);
    await c.probabilities(s, { cache: false });
    done += batch;
  }
  return done / ((performance.now() - t) / 1000);
}

/** Reload a bundle as `predict` would, score it on the test samples and time it. */
export async function measureBundle(dir: string, test: Sample[], o: { timedImages?: number } = {}): Promise<ModelFigures> {
  return measureBundles([dir], test, o);
}

async function paramsOf(c: Classifier): Promise<number> {
  const backboneParams = c.meta.head.kind === 'tail' && c.meta.head.cut === 'input' ? 0 : await c.backbone.spec.paramCount();
  return c.head.countParams() + backboneParams;
}

/**
 * Reload one bundle, or several as one ensemble teacher (mean probabilities; parameters and bytes
 * summed; timed running its members one after another, as distill's teacher runs), score it on
 * the test samples and time it. `bundle` is the directory, or the members' joined by commas.
 */
export async function measureBundles(dirs: string[], test: Sample[], o: { timedImages?: number } = {}): Promise<ModelFigures> {
  const members: Classifier[] = [];
  try {
    for (const d of dirs) members.push(await Classifier.load(d));
    const c: Probabilities & { labels: string[] } = members.length === 1 ? members[0]! : new TeacherEnsemble(members);
    const { probs, samples } = await c.probabilities(test, { cache: false });
    const accuracy = argmaxAccuracy(probs, samples, c.labels.length);
    let params = 0;
    for (const m of members) params += await paramsOf(m);
    const n = o.timedImages ?? 32;
    const imgPerSec = { '1': await imagesPerSecond(c, test, 1, Math.max(4, n / 4)), '16': await imagesPerSecond(c, test, 16, n) };
    return { bundle: dirs.map((d) => path.resolve(d)).join(','), accuracy, params, bundleBytes: dirs.reduce((a, d) => a + dirBytes(d), 0), imgPerSec };
  } finally {
    for (const m of members) await m.dispose();
  }
}
