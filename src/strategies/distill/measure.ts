/** What `graft distill` reports per model: test accuracy, parameters, bundle size and images/s at batch 1 and 16, all through `Classifier` (images → probabilities) so the three models are timed alike. */
import fs from 'node:fs';
import path from 'node:path';
import type { Sample } from '../../data/types.js';
import { Classifier } from '../../recipes/predict.js';

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
export async function imagesPerSecond(c: Classifier, samples: Sample[], batch: number, images: number): Promise<number> {
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
  const c = await Classifier.load(dir);
  try {
    const { probs, samples } = await c.probabilities(test, { cache: false });
    const accuracy = argmaxAccuracy(probs, samples, c.labels.length);
    const backboneParams = c.meta.head.kind === 'tail' && c.meta.head.cut === 'input' ? 0 : await c.backbone.spec.paramCount();
    const params = c.head.countParams() + backboneParams;
    const n = o.timedImages ?? 32;
    const imgPerSec = { '1': await imagesPerSecond(c, test, 1, Math.max(4, n / 4)), '16': await imagesPerSecond(c, test, 16, n) };
    return { bundle: path.resolve(dir), accuracy, params, bundleBytes: dirBytes(dir), imgPerSec };
  } finally {
    await c.dispose();
  }
}
