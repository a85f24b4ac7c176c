/**
 * The bundles under `--models DIR`, each served under its folder name. The folder is rescanned
 * when it changes (fs.watch, plus a slow poll for edits inside a bundle): a new bundle is loaded,
 * a replaced one (graft.json changed; graft writes bundles by atomic rename) is loaded beside the
 * old one and swapped in, the old one is disposed once its queued requests are answered. Folders
 * that are symlinks out of DIR, or whose names are not plain names, are never served.
 */
import fs from 'node:fs';
import path from 'node:path';
import { badRequest, HttpError, notFound } from './errors.js';
import { bundleSignature, ServedModel, type LoadModelOptions } from './model.js';

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface ModelEntry {
  name: string;
  state: 'loading' | 'ready' | 'failed';
  model?: ServedModel;
  error?: string;
  signature?: string;
}

export interface RegistryLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Check a model name from a URL: a plain folder name (no separators, no leading dot, no `..`). */
export function checkModelName(name: string): string {
  if (!MODEL_NAME.test(name)) throw badRequest('BAD_MODEL_NAME', `model name "${name.slice(0, 64)}" is not a plain name (letters, digits, . _ -; no leading dot)`);
  return name;
}

export class ModelRegistry {
  private readonly entries = new Map<string, ModelEntry>();
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private again = false;
  private closed = false;
  private scannedOnce = false;
  readonly root: string;

  constructor(
    root: string,
    private readonly opts: LoadModelOptions,
    private readonly log: RegistryLog,
  ) {
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`--models ${root}: no such directory`);
    this.root = fs.realpathSync(root);
  }

  /** First scan (models loaded), then watch for changes. */
  async start(pollMs = 2000): Promise<void> {
    await this.rescan();
    try {
      this.watcher = fs.watch(this.root, () => this.changed());
      this.watcher.on('error', (e) => this.log.warn(`watching ${this.root}: ${e.message}`));
    } catch (e) {
      this.log.warn(`cannot watch ${this.root} (${(e as Error).message}); polling only`);
    }
    this.poll = setInterval(() => void this.rescan(), pollMs);
    this.poll.unref();
  }

  private changed(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rescan(), 150);
    this.debounce.unref();
  }

  /** Scan now (serialised: a scan requested during one runs right after it). */
  rescan(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.scanning = this.scanning.then(() => this.scan()).catch((e) => this.log.warn(`scanning ${this.root}: ${(e as Error).message}`));
    return this.scanning;
  }

  /** Bundle folders now in the root: name → signature. */
  private found(): Map<string, string> {
    const out = new Map<string, string>();
    for (const d of fs.readdirSync(this.root, { withFileTypes: true })) {
      if (!MODEL_NAME.test(d.name)) continue;
      const dir = path.join(this.root, d.name);
      let real: string;
      try {
        real = fs.realpathSync(dir);
      } catch {
        continue;
      }
      if (path.dirname(real) !== this.root) {
        if (!this.entries.has(d.name)) this.log.warn(`${dir}: links outside ${this.root}; not served`);
        continue;
      }
      try {
        if (!fs.statSync(real).isDirectory()) continue;
      } catch {
        continue; // replaced or removed while we looked
      }
      const sig = bundleSignature(real);
      if (sig) out.set(d.name, sig);
    }
    return out;
  }

  private async scan(): Promise<void> {
    const now = this.found();
    for (const [name, e] of [...this.entries]) {
      if (!now.has(name)) {
        this.entries.delete(name);
        this.log.info(`model ${name}: removed`);
        void e.model?.dispose();
      }
    }
    for (const [name, sig] of now) {
      const e = this.entries.get(name);
      if (e && e.signature === sig) continue;
      await this.load(name, sig, e);
      if (this.closed) return;
    }
    this.scannedOnce = true;
  }

  private async load(name: string, sig: string, old: ModelEntry | undefined): Promise<void> {
    if (!old) this.entries.set(name, { name, state: 'loading', signature: sig });
    try {
      const model = await ServedModel.load(name, path.join(this.root, name), this.opts);
      if (this.closed) return void model.dispose();
      this.entries.set(name, { name, state: 'ready', model, signature: sig });
      this.log.info(`model ${name}: ${old?.model ? 'reloaded' : 'loaded'} (${model.labels.length} labels, ${model.backboneName})`);
      if (old?.model) void old.model.dispose();
    } catch (e) {
      const msg = (e as Error).message;
      this.log.warn(`model ${name}: cannot load: ${msg}`);
      // A broken replacement keeps the working version serving.
      if (old?.model) this.entries.set(name, { ...old, signature: sig, error: msg });
      else this.entries.set(name, { name, state: 'failed', error: msg, signature: sig });
    }
  }

  /** True once the first scan is done and every model found has loaded (or failed). */
  get ready(): boolean {
    return this.scannedOnce && [...this.entries.values()].every((e) => e.state !== 'loading');
  }

  list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  entry(name: string): ModelEntry {
    const e = this.entries.get(checkModelName(name));
    if (!e) throw notFound('MODEL_NOT_FOUND', `no model "${name}" in ${this.root}${this.entries.size ? ` (models: ${[...this.entries.keys()].join(', ')})` : ''}`);
    return e;
  }

  /** A ready model, or 404/503 naming why not. */
  get(name: string): ServedModel {
    const e = this.entry(name);
    if (e.model) return e.model;
    if (e.state === 'loading') throw new HttpError(503, 'MODEL_LOADING', `model "${name}" is still loading`);
    throw new HttpError(503, 'MODEL_FAILED', `model "${name}" failed to load: ${e.error}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    await this.scanning;
    await Promise.all([...this.entries.values()].map((e) => e.model?.dispose()));
    this.entries.clear();
  }
}
