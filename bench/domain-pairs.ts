/**
 * The offline domain pairs bench:adapt and bench:disentangle measure on (cached under the bench
 * cache): MNIST source digits → an MNIST-M-like target (digits blended with patches of Debian
 * python3-skimage photos), → digits rendered from Debian fonts, and → blurred, inverted MNIST digits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeDomainFolder } from '../src/data/domains.js';
import { benchCache } from './common.js';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png', 'hubble_deep_field.jpg', 'retina.jpg', 'ihc.png', 'brick.png', 'grass.png', 'gravel.png'];

async function folder(name: string, make: (dir: string) => Promise<unknown>): Promise<string> {
  const dir = path.join(benchCache(), 'adapt', name);
  if (!fs.existsSync(dir)) await make(dir);
  return dir;
}

export const PAIR_KEYS = ['mnist-m', 'fonts', 'inverted'] as const;
export type PairKey = (typeof PAIR_KEYS)[number];

/** The source folder (`sourcePerClass` MNIST digits per class) and the target folders of `keys` (default: MNIST-M-like and fonts). */
export async function domainPairs(sourcePerClass: number, targetPerClass: number, keys: readonly PairKey[] = ['mnist-m', 'fonts']): Promise<{ source: string; pairs: { key: PairKey; name: string; target: string }[] }> {
  const bad = keys.filter((k) => !(PAIR_KEYS as readonly string[]).includes(k));
  if (bad.length) throw new Error(`unknown domain pair(s) ${bad.join(', ')} (pairs: ${PAIR_KEYS.join(', ')})`);
  const photos = PHOTOS.map((f) => path.join(SKIMAGE, f)).filter((f) => fs.existsSync(f));
  if (keys.includes('mnist-m') && photos.length < 4) throw new Error(`MNIST-M-like patches need Debian's python3-skimage photos in ${SKIMAGE}: apt-get install -y python3-skimage`);
  const source = await folder(`mnist-${sourcePerClass}`, (d) => writeDomainFolder(d, 'mnist', { perClass: sourcePerClass }));
  const tp = targetPerClass;
  const make: Record<PairKey, () => Promise<{ name: string; target: string }>> = {
    'mnist-m': async () => ({ name: 'MNIST → MNIST-M-like', target: await folder(`mnistm-${tp}`, (d) => writeDomainFolder(d, 'mnist-m', { perClass: tp, offset: 500, seed: 1, photos })) }),
    fonts: async () => ({ name: 'MNIST → font digits', target: await folder(`fonts-${tp}`, (d) => writeDomainFolder(d, 'font-digits', { perClass: tp, seed: 4 })) }),
    inverted: async () => ({ name: 'MNIST → inverted blurred MNIST', target: await folder(`inverted-${tp}`, (d) => writeDomainFolder(d, 'mnist-inverted', { perClass: tp, offset: 500 })) }),
  };
  const pairs = [];
  for (const key of keys) pairs.push({ key, ...(await make[key]()) });
  return { source, pairs };
}
