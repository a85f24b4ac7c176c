/**
 * The offline domain pairs bench:adapt and bench:disentangle measure on (cached under the bench
 * cache): MNIST source digits → an MNIST-M-like target (digits blended with patches of Debian
 * python3-skimage photos) and → digits rendered from Debian fonts.
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

/** The source folder (`sourcePerClass` MNIST digits per class) and the two target folders. */
export async function domainPairs(sourcePerClass: number, targetPerClass: number): Promise<{ source: string; pairs: { name: string; target: string }[] }> {
  const photos = PHOTOS.map((f) => path.join(SKIMAGE, f)).filter((f) => fs.existsSync(f));
  if (photos.length < 4) throw new Error(`MNIST-M-like patches need Debian's python3-skimage photos in ${SKIMAGE}: apt-get install -y python3-skimage`);
  const source = await folder(`mnist-${sourcePerClass}`, (d) => writeDomainFolder(d, 'mnist', { perClass: sourcePerClass }));
  const tp = targetPerClass;
  const pairs = [
    { name: 'MNIST → MNIST-M-like', target: await folder(`mnistm-${tp}`, (d) => writeDomainFolder(d, 'mnist-m', { perClass: tp, offset: 500, seed: 1, photos })) },
    { name: 'MNIST → font digits', target: await folder(`fonts-${tp}`, (d) => writeDomainFolder(d, 'font-digits', { perClass: tp, seed: 4 })) },
  ];
  return { source, pairs };
}
