/**
 * Training jobs: one at a time, each in its own child process (child.ts) so the server stays
 * responsive. Every job lives in `<jobs>/<id>/`: job.json (its record, written atomically on each
 * state change), events.jsonl (every event, appended), data/ (uploaded images). A restarted server
 * lists finished and failed jobs, and re-queues the one that was running: finetune continues from
 * its per-epoch checkpoint (`--checkpoint <job>/ckpt --resume`), train re-fits its head on the
 * cached features. The recipe writes into `<id>/out/`; its bundle (spec.ts RECIPES: adapt's is
 * OUT/model, transfer's OUT/target) is then moved to `<models>/<name>` (atomic rename: the
 * registry's hot reload serves it), and only that bundle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { notFound, HttpError } from '../errors.js';
import type { RegistryLog } from '../registry.js';
import type { ChildEvent } from './child.js';
import { jobArgv, RECIPES, type JobSpec } from './spec.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const FINAL: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

export type JobEvent = (ChildEvent | { type: 'state'; state: JobState; error?: string } | { type: 'done'; result: Record<string, unknown> }) & { seq: number; time: string };

export interface JobRecord {
  id: string;
  spec: JobSpec;
  /** Absolute data folder (under the data root, or the job's uploads). */
  data: string;
  /** Absolute second data folder (adapt, transfer), under the data root. */
  target?: string;
  /** Absolute bundle folder of the teacher (distill), a served model. */
  teacher?: string;
  /** Images uploaded per class, when the data was uploaded. */
  uploaded?: Record<string, number>;
  state: JobState;
  created: string;
  started?: string;
  finished?: string;
  /** Times the job was started (more than 1: resumed after a server restart). */
  attempts: number;
  error?: string;
  /** The recipe's JSON result (bundle, labels, val/test evaluation, history). */
  result?: Record<string, unknown>;
  /** Seconds from start to a saved bundle (last attempt). */
  seconds?: number;
}

const CHILD = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './child.ts' : './child.js', import.meta.url));

export class JobManager {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly events = new Map<string, JobEvent[]>();
  readonly bus = new EventEmitter();
  private running: { id: string; child: ChildProcess; cancelled: boolean } | undefined;
  private closing = false;

  constructor(
    readonly dir: string,
    private readonly modelsDir: string,
    private readonly log: RegistryLog,
    /** Called with the model name once its bundle is written, before "done" is announced (the registry loads it). */
    private readonly published: (name: string) => Promise<void> = async () => {},
  ) {
    this.bus.setMaxListeners(0);
    fs.mkdirSync(dir, { recursive: true });
    for (const id of fs.readdirSync(dir).sort()) this.restore(id);
    this.next();
  }

  /** Read one persisted job; an interrupted one goes back to the queue. */
  private restore(id: string): void {
    const file = path.join(this.dir, id, 'job.json');
    if (!fs.existsSync(file)) return;
    let job: JobRecord;
    try {
      job = JSON.parse(fs.readFileSync(file, 'utf8')) as JobRecord;
    } catch (e) {
      return this.log.warn(`${file}: unreadable job record (${(e as Error).message}); skipped`);
    }
    const evFile = path.join(this.dir, id, 'events.jsonl');
    const evs = fs.existsSync(evFile) ? fs.readFileSync(evFile, 'utf8').split('\n').filter(Boolean).flatMap((l) => { try { return [JSON.parse(l) as JobEvent]; } catch { return []; } }) : [];
    this.jobs.set(id, job);
    this.events.set(id, evs);
    if (job.state === 'running') {
      job.state = 'queued';
      this.save(job);
      this.emit(job, { type: 'log', level: 'info', message: 'the server restarted while this job ran: queued again (finetune, pretrain, adapt\'s DANN and disentangle continue from their checkpoints)' });
    }
  }

  jobDir(id: string): string {
    return path.join(this.dir, id);
  }

  /** A new job id (sortable by creation time) and its folder. */
  newId(): string {
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    fs.mkdirSync(this.jobDir(id));
    return id;
  }

  submit(id: string, spec: JobSpec, inputs: Pick<JobRecord, 'data' | 'target' | 'teacher' | 'uploaded'>): JobRecord {
    const job: JobRecord = { id, spec, ...inputs, state: 'queued', created: new Date().toISOString(), attempts: 0 };
    this.jobs.set(id, job);
    this.events.set(id, []);
    this.save(job);
    this.emit(job, { type: 'state', state: 'queued' });
    this.next();
    return job;
  }

  list(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => b.created.localeCompare(a.created));
  }

  get(id: string): JobRecord {
    const j = this.jobs.get(id);
    if (!j) throw notFound('JOB_NOT_FOUND', `no job "${id.slice(0, 64)}"`);
    return j;
  }

  eventsOf(id: string): JobEvent[] {
    return this.events.get(this.get(id).id) ?? [];
  }

  /** Cancel a queued or running job (a running child is stopped; its partial output is removed). */
  cancel(id: string): JobRecord {
    const job = this.get(id);
    if (FINAL.has(job.state)) throw new HttpError(409, 'JOB_FINISHED', `job ${id} is already ${job.state}`);
    if (this.running?.id === id) {
      this.running.cancelled = true;
      this.running.child.kill('SIGTERM');
    } else this.finish(job, 'cancelled');
    return job;
  }

  private save(job: JobRecord): void {
    writeFileAtomic(path.join(this.jobDir(job.id), 'job.json'), JSON.stringify(job, null, 2) + '\n');
  }

  private emit(job: JobRecord, e: ChildEvent | { type: 'state'; state: JobState; error?: string } | { type: 'done'; result: Record<string, unknown> }): void {
    const list = this.events.get(job.id)!;
    const ev = { ...e, seq: list.length, time: new Date().toISOString() } as JobEvent;
    list.push(ev);
    fs.appendFileSync(path.join(this.jobDir(job.id), 'events.jsonl'), JSON.stringify(ev) + '\n');
    this.bus.emit(job.id, ev);
  }

  private finish(job: JobRecord, state: JobState, extra: Partial<JobRecord> = {}): void {
    Object.assign(job, { state, finished: new Date().toISOString() }, extra);
    this.save(job);
    if (state === 'done') this.emit(job, { type: 'done', result: job.result ?? {} });
    this.emit(job, { type: 'state', state, ...(job.error ? { error: job.error } : {}) });
  }

  /** Start the oldest queued job if none is running. */
  private next(): void {
    if (this.running || this.closing) return;
    const job = [...this.jobs.values()].filter((j) => j.state === 'queued').sort((a, b) => a.created.localeCompare(b.created))[0];
    if (job) this.start(job);
  }

  private start(job: JobRecord): void {
    const dir = this.jobDir(job.id);
    const argv = jobArgv(job.spec, { data: job.data, target: job.target, teacher: job.teacher, work: path.join(dir, 'out'), checkpoint: path.join(dir, 'ckpt') });
    const execArgv = CHILD.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : []; // from sources: tsx, wherever the cwd is
    const child = spawn(process.execPath, [...execArgv, CHILD, JSON.stringify(argv)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: process.env });
    this.running = { id: job.id, child, cancelled: false };
    Object.assign(job, { state: 'running', started: new Date().toISOString(), attempts: job.attempts + 1 });
    this.save(job);
    this.emit(job, { type: 'state', state: 'running' });
    const t0 = performance.now();
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    child.on('message', (m) => this.emit(job, m as ChildEvent));
    child.on('exit', (code, signal) => {
      const cancelled = this.running?.cancelled;
      this.running = undefined;
      if (this.closing && !cancelled) return; // stays "running" on disk: resumed by the next server
      if (cancelled) this.finish(job, 'cancelled');
      else if (code === 0) return void this.succeeded(job, stdout, t0).finally(() => this.next());
      else this.finish(job, 'failed', { error: stderr.trim().split('\n').pop() || `exited with ${code ?? signal}` });
      this.next();
    });
  }

  /** The recipe's result parsed, its bundle published and loaded by the server, then "done". */
  private async succeeded(job: JobRecord, stdout: string, t0: number): Promise<void> {
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    } catch {
      return this.finish(job, 'failed', { error: `the job printed no result (${stdout.slice(0, 200)})` });
    }
    try {
      result.bundle = await this.publish(job, result);
    } catch (e) {
      return this.finish(job, 'failed', { error: (e as Error).message });
    }
    await this.published(job.spec.name).catch((e) => this.log.warn(`job ${job.id}: loading model ${job.spec.name}: ${(e as Error).message}`));
    this.finish(job, 'done', { result, seconds: (performance.now() - t0) / 1000 });
    this.log.info(`job ${job.id}: ${job.spec.recipe} → model ${job.spec.name} done`);
  }

  /**
   * Move the recipe's bundle (RECIPES[recipe].bundle of the work folder, which must be the bundle
   * the recipe itself reports) to `<models>/<name>`, replacing an older one atomically.
   */
  private async publish(job: JobRecord, result: Record<string, unknown>): Promise<string> {
    const bundle = RECIPES[job.spec.recipe].bundle(path.join(this.jobDir(job.id), 'out'));
    const target = result.target as { bundle?: unknown } | undefined;
    const said = typeof result.bundle === 'string' ? result.bundle : typeof target?.bundle === 'string' ? target.bundle : undefined;
    if (said === undefined || path.resolve(said) !== bundle) throw new Error(`graft ${job.spec.recipe} reported its bundle at ${said ?? '(nowhere)'}, expected ${bundle}`);
    if (!fs.existsSync(path.join(bundle, 'graft.json'))) throw new Error(`graft ${job.spec.recipe} wrote no bundle: ${bundle}/graft.json is missing`);
    const dest = path.join(this.modelsDir, job.spec.name);
    await writeDirAtomic(dest, (tmp) => {
      fs.rmdirSync(tmp);
      try {
        fs.renameSync(bundle, tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
        fs.cpSync(bundle, tmp, { recursive: true }); // --jobs on another file system
      }
    });
    return dest;
  }

  /** Stop: the running child is killed, its job stays "running" on disk (resumed on restart). */
  async close(): Promise<void> {
    this.closing = true;
    const r = this.running;
    if (!r) return;
    await new Promise<void>((resolve) => {
      r.child.once('exit', () => resolve());
      r.child.kill('SIGTERM');
    });
  }
}
