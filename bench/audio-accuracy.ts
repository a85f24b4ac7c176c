/**
 * `npm run bench:audio-accuracy`: spoken digits from Debian's espeak-ng through MobileNetV2 on
 * log-mel images — accuracy on held-out takes (speed/pitch settings never used in training, voices
 * seen) and held-out voices (speakers never heard), for a linear head on frozen features and a
 * fine-tuned last block, at 5, 10 and all training examples per class.
 *
 *   npm run bench:audio-accuracy -- [--budgets 5,10,all]
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeSpokenSet } from '../src/audio/espeak.js';
import { trainClassifier } from '../src/recipes/train.js';
import { finetuneClassifier } from '../src/recipes/finetune.js';
import { evaluateBundle } from '../src/recipes/evaluate.js';
import { args, benchCache } from './common.js';

const a = args({ budgets: { type: 'string', default: '5,10,all' } });
const budgets = String(a.budgets).split(',').map((b) => (b === 'all' ? undefined : Number(b)));
const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const TRAIN_VOICES = ['en+m1', 'en+m2', 'en+m3', 'en+f1', 'en+f2', 'en+f3'];
const HELD_VOICES = ['en+m4', 'en+f4'];
const TRAIN_TAKES: [number, number][] = [[120, 20], [150, 40], [180, 60], [210, 80]];
const HELD_TAKES: [number, number][] = [[135, 50], [195, 30]];

const root = path.join(benchCache(), 'audio-digits');
const dirs = { train: path.join(root, 'train'), takes: path.join(root, 'heldout-takes'), voices: path.join(root, 'heldout-voices') };
if (!fs.existsSync(path.join(root, 'done'))) {
  fs.rmSync(root, { recursive: true, force: true });
  writeSpokenSet(dirs.train, { words: DIGITS, voices: TRAIN_VOICES, takes: TRAIN_TAKES });
  writeSpokenSet(dirs.takes, { words: DIGITS, voices: TRAIN_VOICES, takes: HELD_TAKES });
  writeSpokenSet(dirs.voices, { words: DIGITS, voices: HELD_VOICES, takes: TRAIN_TAKES });
  fs.writeFileSync(path.join(root, 'done'), '');
}
console.log(`train: ${TRAIN_VOICES.length} voices × ${TRAIN_TAKES.length} takes per digit; held-out takes: ${HELD_TAKES.length} new speed/pitch settings; held-out voices: ${HELD_VOICES.join(', ')} (machine shared with other jobs)`);
const rows: string[] = [];
for (const budget of budgets) {
  for (const method of ['linear', 'finetune'] as const) {
    const out = path.join(root, 'models', `${method}-${budget ?? 'all'}`);
    const common = { data: dirs.train, out, valPercent: 15, testPercent: 0, limitPerClass: budget === undefined ? undefined : Math.ceil(budget / 0.85) };
    const t = performance.now();
    if (method === 'linear') await trainClassifier(common);
    else await finetuneClassifier({ ...common, unfreeze: 1 });
    const secs = (performance.now() - t) / 1000;
    const takes = await evaluateBundle(out, dirs.takes);
    const voices = await evaluateBundle(out, dirs.voices);
    const acc = (r: { accuracy: number }) => (100 * r.accuracy).toFixed(1);
    const row = `| ${budget ?? 'all (24)'} | ${method === 'linear' ? 'frozen + linear' : 'fine-tuned last block'} | ${acc(takes)}% | ${acc(voices)}% | ${secs.toFixed(0)} s |`;
    console.log(row);
    rows.push(row);
  }
}
console.log(['| per class | method | held-out takes | held-out voices | train time |', '|---|---|---|---|---|', ...rows].join('\n'));
