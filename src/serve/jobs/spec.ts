/**
 * What `POST /v1/jobs` accepts: `{ name, recipe, data?, options? }`. The recipe is one of graft's
 * bundle-writing commands and its options are that command's own CLI options (checked against the
 * command's declared table, so a misspelt option is refused before anything runs), minus those that
 * name files or change where output goes. `data` is a folder under the server's data root
 * (confined: no `..`, no symlinks out); uploaded images are the alternative.
 */
import fs from 'node:fs';
import path from 'node:path';
import { COMMANDS } from '../../cli/commands/index.js';
import { optionsOf } from '../../cli/spec.js';
import { badRequest } from '../errors.js';
import { MODEL_NAME } from '../registry.js';

/** The recipes a job may run: each takes DATA and --out DIR and writes a bundle. */
export const JOB_RECIPES = ['train', 'finetune', 'fewshot'] as const;
export type JobRecipe = (typeof JOB_RECIPES)[number];

/** Options a job may not set: paths on the server, output, remote execution, process behaviour. */
const DENIED = new Set(['out', 'report', 'json', 'quiet', 'help', 'weights', 'from', 'checkpoint', 'resume', 'redis', 'shared-root', 'queue', 'threads', 'engine', 'strict', 'lock-ms', 'concurrency', 'tensor']);

export interface JobSpec {
  name: string;
  recipe: JobRecipe;
  /** Folder under the data root (relative), when not uploaded. */
  data?: string;
  options: Record<string, string | boolean>;
}

export const CLASS_NAME = /^[^/\\\0.][^/\\\0]{0,63}$/;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Check a job request body; throws a 400 naming the problem. */
export function checkJobSpec(x: unknown, opts: { uploaded: boolean }): JobSpec {
  if (!isObj(x)) throw badRequest('BAD_JOB', 'a job is a JSON object { name, recipe, data?, options? }');
  const { name, recipe, data, options } = x;
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) throw badRequest('BAD_JOB', `"name" (the model folder to write) must be a plain name (letters, digits, . _ -), got ${JSON.stringify(name)}`);
  const r = recipe ?? 'train';
  if (typeof r !== 'string' || !(JOB_RECIPES as readonly string[]).includes(r)) throw badRequest('BAD_RECIPE', `"recipe" must be one of ${JOB_RECIPES.join(', ')}, got ${JSON.stringify(recipe)}`);
  if (opts.uploaded && data !== undefined) throw badRequest('BAD_JOB', 'give "data" (a folder on the server) or upload images, not both');
  if (!opts.uploaded && typeof data !== 'string') throw badRequest('NO_DATA', '"data" must name a folder under the server\'s data root (or upload images per class as multipart files)');
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
  return { name, recipe: r as JobRecipe, ...(typeof data === 'string' ? { data } : {}), options: out };
}

/** The data folder of a spec, confined to `root` (realpath inside it; no `..`, no symlink out). */
export function resolveDataDir(root: string | undefined, rel: string): string {
  if (!root) throw badRequest('NO_DATA_ROOT', 'this server has no --data-root: upload images per class instead');
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).some((p) => p === '..')) throw badRequest('BAD_DATA_PATH', `"data" must be a relative path inside the data root without "..", got ${JSON.stringify(rel)}`);
  const realRoot = fs.realpathSync(root);
  let real: string;
  try {
    real = fs.realpathSync(path.join(realRoot, rel));
  } catch {
    throw badRequest('BAD_DATA_PATH', `no folder "${rel}" in the data root`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw badRequest('BAD_DATA_PATH', `"${rel}" leads outside the data root (symlink)`);
  if (!fs.statSync(real).isDirectory()) throw badRequest('BAD_DATA_PATH', `"${rel}" is not a folder`);
  return real;
}

/** The child's command line: RECIPE DATA --out OUT [options] --json (+ checkpointing for finetune). */
export function jobArgv(spec: JobSpec, data: string, out: string, checkpoint: string): string[] {
  const argv = [spec.recipe, data, '--out', out, '--json'];
  for (const [k, v] of Object.entries(spec.options)) argv.push(v === true ? `--${k}` : `--${k}=${v}`);
  if (spec.recipe === 'finetune') argv.push('--checkpoint', checkpoint, '--resume');
  return argv;
}
