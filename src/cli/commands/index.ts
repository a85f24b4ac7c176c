/**
 * Every graft command, in the order `graft help` lists them. A new command is one file in this
 * folder (`export default defineCommand({...})`, see ../spec.ts) and one line here.
 */
import type { Command } from '../spec.js';

export const COMMANDS: readonly Command[] = [
  (await import('./train.js')).default,
  (await import('./demo.js')).default,
  (await import('./finetune.js')).default,
  (await import('./lr-find.js')).default,
  (await import('./eval.js')).default,
  (await import('./predict.js')).default,
  (await import('./extract.js')).default,
  (await import('./zoo.js')).default,
  (await import('./data.js')).default,
  (await import('./transfer.js')).default,
  (await import('./compare.js')).default,
  (await import('./export.js')).default,
  (await import('./add-class.js')).default,
  (await import('./fewshot.js')).default,
  (await import('./zeroshot.js')).default,
  (await import('./cluster.js')).default,
  (await import('./pretrain.js')).default,
  (await import('./adapt.js')).default,
  (await import('./disentangle.js')).default,
  (await import('./distill.js')).default,
  (await import('./worker.js')).default,
  (await import('./queue.js')).default,
  (await import('./serve.js')).default,
];
