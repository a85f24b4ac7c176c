/**
 * What `POST /v1/jobs` accepts: `{ name, recipe, data?, target?, teacher?, options? }`. The recipe
 * is one of graft's bundle-writing commands and its options are that command's own CLI options
 * (checked against the command's declared table, so a misspelt option is refused before anything
 * runs), minus those that name files or change where output goes. `data` is a folder under the
 * server's data root (confined: no `..`, no symlinks out); uploaded images are the alternative.
 * adapt and transfer also need `target`, a second folder under the data root, confined the same
 * way; distill needs `teacher`, the name of a model this server serves (resolved here, never a
 * client path). Each recipe writes into the job's own work folder; RECIPES says where its bundle
 * is, and only that bundle is published to `<models>/<name>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { COMMANDS } from '../../cli/commands/index.js';
import { optionsOf } from '../../cli/spec.js';
import { badRequest } from '../errors.js';
import { MODEL_NAME } from '../registry.js';

/** The recipes a job may run: each writes a bundle (see RECIPES for where). */
export const JOB_RECIPES = ['train', 'finetune', 'fewshot', 'adapt', 'disentangle', 'transfer', 'distill', 'pretrain'] as const;
export type JobRecipe = (typeof JOB_RECIPES)[number];

/** Options a job may not set: paths on the server, output, remote execution, process behaviour. */
const DENIED = new Set([
  ...['out', 'report', 'json', 'quiet', 'help', 'weights', 'from', 'checkpoint', 'no-checkpoint', 'resume', 'redis', 'shared-root', 'queue', 'threads', 'engine', 'strict', 'lock-ms', 'concurrency', 'tensor'],
  ...['source', 'target', 'target-test', 'teacher', 'data', 'unlabelled'], // folders: the spec's data/target/teacher
]);

/** Absolute inputs of a job's command line, resolved on the server. */
export interface JobInputs {
  data: string;
  target?: string;
  /** The teacher's bundle folder (distill). */
  teacher?: string;
  /** The job's work folder: the recipe writes everything here. */
  work: string;
  checkpoint: string;
}

interface RecipePlan {
  /** Needs `target`, a second data-root folder. */
  target?: boolean;
  /** Needs `teacher`, a served model's name. */
  teacher?: boolean;
  /** The command line (without options). */
  argv(i: JobInputs): string[];
  /** The bundle the recipe writes, inside the work folder. */
  bundle(work: string): string;
  /**
   * How the recipe continues after a server restart: 'checkpoint' — it checkpoints into
   * JobInputs.checkpoint (`--checkpoint DIR --resume`); 'out' — it checkpoints inside its own
   * --out folder (the job's work folder survives restarts), `--resume` alone.
   */
  resumes?: 'checkpoint' | 'out';
}

/** Per recipe: its command line and its bundle (adapt, disentangle: OUT/model; transfer: OUT/target; distill: OUT beside OUT-label-only). */
export const RECIPES: Record<JobRecipe, RecipePlan> = {
  train: { argv: (i) => ['train', i.data, '--out', path.join(i.work, 'model')], bundle: (w) => path.join(w, 'model') },
  finetune: { argv: (i) => ['finetune', i.data, '--out', path.join(i.work, 'model')], bundle: (w) => path.join(w, 'model'), resumes: 'checkpoint' },
  fewshot: { argv: (i) => ['fewshot', i.data, '--out', path.join(i.work, 'model')], bundle: (w) => path.join(w, 'model') },
  pretrain: { argv: (i) => ['pretrain', i.data, '--out', path.join(i.work, 'model')], bundle: (w) => path.join(w, 'model'), resumes: 'checkpoint' },
  adapt: { target: true, argv: (i) => ['adapt', '--source', i.data, '--target', i.target!, '--out', i.work], bundle: (w) => path.join(w, 'model'), resumes: 'out' },
  disentangle: { target: true, argv: (i) => ['disentangle', '--source', i.data, '--target', i.target!, '--out', i.work], bundle: (w) => path.join(w, 'model'), resumes: 'out' },
  transfer: { target: true, argv: (i) => ['transfer', '--source', i.data, '--target', i.target!, '--out', i.work], bundle: (w) => path.join(w, 'target'), resumes: 'out' },
  distill: { teacher: true, argv: (i) => ['distill', '--teacher', i.teacher!, '--data', i.data, '--out', path.join(i.work, 'student')], bundle: (w) => path.join(w, 'student') },
};

export interface JobSpec {
  name: string;
  recipe: JobRecipe;
  /** Folder under the data root (relative), when not uploaded. */
  data?: string;
  /** Second folder under the data root (adapt, transfer: the target domain / dataset). */
  target?: string;
  /** A served model's name (distill: the teacher). */
  teacher?: string;
  options: Record<string, string | boolean>;
}

export const CLASS_NAME = /^[^/\\\0.][^/\\\0]{0,63}$/;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Check a job request body; throws a 400 naming the problem. */
export function checkJobSpec(x: unknown, opts: { uploaded: boolean }): JobSpec {
  if (!isObj(x)) throw badRequest('BAD_JOB', 'a job is a JSON object { name, recipe, data?, target?, teacher?, options? }');
  const { name, recipe, data, target, teacher, options } = x;
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) throw badRequest('BAD_JOB', `"name" (the model folder to write) must be a plain name (letters, digits, . _ -), got ${JSON.stringify(name)}`);
  const r = recipe ?? 'train';
  if (typeof r !== 'string' || !(JOB_RECIPES as readonly string[]).includes(r)) throw badRequest('BAD_RECIPE', `"recipe" must be one of ${JOB_RECIPES.join(', ')}, got ${JSON.stringify(recipe)}`);
  if (opts.uploaded && data !== undefined) throw badRequest('BAD_JOB', 'give "data" (a folder on the server) or upload images, not both');
  if (!opts.uploaded && typeof data !== 'string') throw badRequest('NO_DATA', '"data" must name a folder under the server\'s data root (or upload images per class as multipart files)');
  const plan = RECIPES[r as JobRecipe];
  if (plan.target ? typeof target !== 'string' : target !== undefined) throw badRequest('BAD_TARGET', plan.target ? `graft ${r} needs "target": a second folder under the server's data root` : `"target" is for adapt and transfer, not ${r}`);
  if (plan.teacher ? typeof teacher !== 'string' || !MODEL_NAME.test(teacher) : teacher !== undefined) throw badRequest('BAD_TEACHER', plan.teacher ? `graft ${r} needs "teacher": the name of a model this server serves, got ${JSON.stringify(teacher)}` : `"teacher" is for distill, not ${r}`);
  if (options !== undefined && !isObj(options)) throw badRequest('BAD_OPTIONS', '"options" must be an object of the recipe\'s CLI options, e.g. { "epochs": 5 }');
  const cmd = COMMANDS.find((c) => c.name === r)!;
  const table = optionsOf(cmd);
  const out: Record<string, string | boolean> = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (DENIED.has(k)) throw badRequest('BAD_OPTIONS', `option "${k}" cannot be set on a server job`);
    const o = Object.hasOwn(table, k) ? table[k] : undefined;
    if (!o) throw badRequest('BAD_OPTIONS', `graft ${r} has no option --${k} (see graft ${r} --help)`);
    if (o.type === 'boolean') {
      if (typeof v !== 'boolean') throw badRequest('BAD_OPTIONS', `option "${k}" is a flag: true or false`);
      if (v) out[k] = true;
    } else {
      if (typeof v !== 'string' && typeof v !== 'number') throw badRequest('BAD_OPTIONS', `option "${k}" takes a string or number`);
      const s = String(v);
      if (s.length > 200 || s.startsWith('-')) throw badRequest('BAD_OPTIONS', `option "${k}": value ${JSON.stringify(s.slice(0, 40))} not allowed`);
      if (k === 'backbone' && !/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$/.test(s)) throw badRequest('BAD_OPTIONS', `option "backbone" must be a graft zoo name (no files or URLs on a server job), got ${JSON.stringify(s)}`);
      out[k] = s;
    }
  }
  return { name, recipe: r as JobRecipe, ...(typeof data === 'string' ? { data } : {}), ...(typeof target === 'string' ? { target } : {}), ...(typeof teacher === 'string' ? { teacher } : {}), options: out };
}

/** A data folder of a spec (its `field`: data or target), confined to `root` (realpath inside it; no `..`, no symlink out). */
export function resolveDataDir(root: string | undefined, rel: string, field = 'data'): string {
  if (!root) throw badRequest('NO_DATA_ROOT', `this server has no --data-root${field === 'data' ? ': upload images per class instead' : `, so "${field}" cannot name a folder`}`);
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).some((p) => p === '..')) throw badRequest('BAD_DATA_PATH', `"${field}" must be a relative path inside the data root without "..", got ${JSON.stringify(rel)}`);
  const realRoot = fs.realpathSync(root);
  let real: string;
  try {
    real = fs.realpathSync(path.join(realRoot, rel));
  } catch {
    throw badRequest('BAD_DATA_PATH', `"${field}": no folder "${rel}" in the data root`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw badRequest('BAD_DATA_PATH', `"${field}": "${rel}" leads outside the data root (symlink)`);
  if (!fs.statSync(real).isDirectory()) throw badRequest('BAD_DATA_PATH', `"${field}": "${rel}" is not a folder`);
  return real;
}

/** The child's command line: the recipe's own (RECIPES), its options, --json, and checkpointing where it resumes. */
export function jobArgv(spec: JobSpec, inputs: JobInputs): string[] {
  const plan = RECIPES[spec.recipe];
  const argv = [...plan.argv(inputs), '--json'];
  for (const [k, v] of Object.entries(spec.options)) argv.push(v === true ? `--${k}` : `--${k}=${v}`);
  if (plan.resumes === 'checkpoint') argv.push('--checkpoint', inputs.checkpoint, '--resume');
  else if (plan.resumes === 'out') argv.push('--resume');
  return argv;
}
