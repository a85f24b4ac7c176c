/**
 * References to backbones in the user's own model files: a path or http(s) URL to a TF.js layers
 * `model.json` or an `.onnx` file, optionally followed by preprocessing overrides after `#`:
 *
 *     ./m/model.json#size=160&mean=0.5&std=0.5
 *     https://host/m/model.json#resize=center-crop&crop=0.9
 *     ./resnet.onnx#size=224x224
 *
 * The canonical form (absolute path or URL + normalised overrides) is the backbone's name: bundles
 * store it, so `Classifier.load` reopens the same file with the same preprocessing. URLs are
 * downloaded once into `$GRAFT_HOME/models/` and read from there afterwards (offline too).
 * Kept free of tfjs/onnxruntime imports: the CLI uses it to fold flags into the name.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Preprocess } from '../data/decode.js';
import { download } from '../util/download.js';
import { graftHome } from '../util/fs.js';

export type FileKind = 'tfjs' | 'onnx';

/** Preprocessing a user can set for a model file (anything not set keeps the format's default). */
export interface PreprocessOverrides {
  size?: [number, number];
  resize?: Preprocess['resize'];
  cropFraction?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
}

export interface FileRef {
  kind: FileKind;
  /** Absolute path, or the URL without its fragment. */
  location: string;
  isUrl: boolean;
  overrides: PreprocessOverrides;
  /** Canonical reference: location + `#` + normalised overrides (none: just the location). */
  name: string;
}

const URL_RE = /^https?:\/\//i;

function splitFragment(s: string): [string, string] {
  const i = s.lastIndexOf('#');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function kindOf(location: string): FileKind | undefined {
  const base = location.split('?')[0]!.toLowerCase();
  if (base.endsWith('.onnx')) return 'onnx';
  if (base.endsWith('.json')) return 'tfjs';
  return undefined;
}

/** True for a path/URL to a `.json` (TF.js layers model) or `.onnx` file, with or without `#…`. */
export function isFileRef(s: string): boolean {
  return URL_RE.test(s) || kindOf(splitFragment(s)[0]) !== undefined;
}

function numbers(text: string, what: string, n: number[]): number[] {
  const v = text.split(/[,x×]/).map((t) => Number(t.trim()));
  if (!n.includes(v.length) || v.some((x) => !Number.isFinite(x))) throw new Error(`${what}: expected ${n.join(' or ')} number(s), got "${text}"`);
  return v;
}

const triple = (text: string, what: string) => {
  const v = numbers(text, what, [1, 3]);
  return (v.length === 1 ? [v[0], v[0], v[0]] : v) as [number, number, number];
};

/** Parse overrides given as text (fragment values or CLI flags); errors name `where`. */
function parseOverrides(kv: Record<string, string | undefined>, where: string): PreprocessOverrides {
  const o: PreprocessOverrides = {};
  if (kv.size !== undefined) {
    const v = numbers(kv.size, `${where} size`, [1, 2]);
    if (v.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${where} size: expected positive integers, got "${kv.size}"`);
    o.size = [v[0]!, v[v.length - 1]!];
  }
  if (kv.resize !== undefined) {
    if (kv.resize !== 'squash' && kv.resize !== 'center-crop') throw new Error(`${where} resize: squash or center-crop, got "${kv.resize}"`);
    o.resize = kv.resize;
  }
  if (kv.crop !== undefined) {
    const c = numbers(kv.crop, `${where} crop`, [1])[0]!;
    if (!(c > 0 && c <= 1)) throw new Error(`${where} crop: a fraction in (0, 1], got "${kv.crop}"`);
    o.cropFraction = c;
  }
  if (kv.mean !== undefined) o.mean = triple(kv.mean, `${where} mean`);
  if (kv.std !== undefined) {
    o.std = triple(kv.std, `${where} std`);
    if (o.std.some((s) => s === 0)) throw new Error(`${where} std: must be non-zero, got "${kv.std}"`);
  }
  return o;
}

function fragmentOf(o: PreprocessOverrides): string {
  const parts: string[] = [];
  if (o.size) parts.push(`size=${o.size[0]}x${o.size[1]}`);
  if (o.resize) parts.push(`resize=${o.resize}`);
  if (o.cropFraction !== undefined) parts.push(`crop=${o.cropFraction}`);
  if (o.mean) parts.push(`mean=${o.mean.join(',')}`);
  if (o.std) parts.push(`std=${o.std.join(',')}`);
  return parts.join('&');
}

const KEYS = new Set(['size', 'resize', 'crop', 'mean', 'std']);

/** Parse a model-file reference (see the module comment). */
export function parseFileRef(s: string): FileRef {
  const [base, frag] = splitFragment(s);
  const isUrl = URL_RE.test(base);
  const kind = kindOf(isUrl ? new URL(base).pathname : base);
  if (!kind) throw new Error(`${base}: a backbone file must be a TF.js layers model.json or an .onnx file`);
  const kv: Record<string, string> = {};
  for (const part of frag.split('&').filter(Boolean)) {
    const [k, v] = part.split('=', 2) as [string, string | undefined];
    if (!KEYS.has(k) || v === undefined) throw new Error(`${s}: unknown preprocessing option "${part}" after '#' (use ${[...KEYS].map((x) => `${x}=…`).join(', ')})`);
    kv[k] = v;
  }
  const overrides = parseOverrides(kv, s);
  const location = isUrl ? base : path.resolve(base);
  const f = fragmentOf(overrides);
  return { kind, location, isUrl, overrides, name: f ? `${location}#${f}` : location };
}

/** Apply overrides to a format's default preprocessing. */
export function applyOverrides(base: Preprocess, o: PreprocessOverrides): Preprocess {
  const p: Preprocess = { ...base, ...(o.size ? { size: o.size } : {}), ...(o.resize ? { resize: o.resize } : {}), ...(o.mean ? { mean: o.mean } : {}), ...(o.std ? { std: o.std } : {}) };
  if (o.cropFraction !== undefined) p.cropFraction = o.cropFraction;
  if (p.resize === 'squash') delete p.cropFraction;
  return p;
}

/** CLI flags that set a model file's preprocessing. */
const FLAGS = { 'input-size': 'size', resize: 'resize', mean: 'mean', std: 'std' } as const;

/**
 * Fold preprocessing flags (`--input-size 224 --mean 0.5 --std 0.5 --resize squash`) into a
 * model-file reference; flags with a registry backbone are an error (its preprocessing is fixed).
 */
export function withOverrides(backbone: string | undefined, flags: Record<string, unknown>): string | undefined {
  const kv: Record<string, string> = {};
  for (const [flag, key] of Object.entries(FLAGS)) if (typeof flags[flag] === 'string') kv[key] = flags[flag] as string;
  if (!Object.keys(kv).length) return backbone;
  const given = Object.keys(FLAGS).filter((f) => typeof flags[f] === 'string').map((f) => `--${f}`).join(', ');
  if (!backbone || !isFileRef(backbone)) {
    throw new Error(`${given} appl${given.includes(',') ? 'y' : 'ies'} to model-file backbones (--backbone ./model.json or ./net.onnx); ${backbone ?? 'the default backbone'} has fixed preprocessing`);
  }
  const ref = parseFileRef(backbone);
  const merged = { ...ref.overrides, ...parseOverrides(kv, given) };
  return `${ref.location}#${fragmentOf(merged)}`;
}

/** Where a URL's files are cached: `$GRAFT_HOME/models/<host>-<sha256(url)[:16]>/`. */
export function urlCacheDir(url: string): string {
  const host = new URL(url).host.replace(/[^\w.-]+/g, '_');
  return path.join(graftHome(), 'models', `${host}-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
}

/**
 * `rel` (relative to `url`) as a local file in the URL's cache, downloaded when missing. Offline,
 * the error names the URL that failed and where to put the file by hand.
 */
export async function cachedFile(url: string, rel: string): Promise<string> {
  if (path.isAbsolute(rel) || URL_RE.test(rel) || rel.split(/[\\/]/).includes('..')) {
    throw new Error(`${url}: file "${rel}" must be a path relative to it (without "..")`);
  }
  const dest = path.join(urlCacheDir(url), rel);
  if (!fs.existsSync(dest)) await download(new URL(rel, url).toString(), dest);
  return dest;
}
