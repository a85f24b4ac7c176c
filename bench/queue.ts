/**
 * Extraction over the job queue against local extraction, whole processes, in one run:
 * `graft extract DIR` (local) vs `graft extract DIR --redis …` with 1 worker (2 ORT threads) and
 * with 2 workers (1 thread each), all on this machine, on 2,500 MNIST digit PNGs. Every run starts
 * from an empty feature store with the converted model cached; workers are started (and their
 * backbone warmed on one shard) before the clock starts. Rows are checked bit-identical.
 *   npm run bench:queue -- [--per-class 250] [--shard-size 256] [--repeats 1]
 * Last line: one JSON object with every time and ratio.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { args, benchCache, digitFolder, fmt, ROOT } from './common.js';

const a = args({ 'per-class': { type: 'string', default: '250' }, 'shard-size': { type: 'string', default: '256' }, repeats: { type: 'string', default: '1' } });
const GRAFT = path.join(ROOT, 'bin', 'graft.js');
const home = path.join(benchCache(), 'queue-home');
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function freshStore(): void {
  fs.rmSync(path.join(home, 'features'), { recursive: true, force: true });
}

function extract(dir: string, extra: string[]): { seconds: number; out: string } {
  freshStore();
  const out = path.join(benchCache(), `queue-${extra.length ? 'remote' : 'local'}.npy`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [GRAFT, 'extract', dir, '--out', out, '--json', ...extra], { encoding: 'utf8', env: { ...process.env, GRAFT_HOME: home } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`graft extract failed: ${r.stderr}`);
  if ((JSON.parse(r.stdout) as { features: { computed: number } }).features.computed === 0) throw new Error('nothing computed: the store was not fresh');
  return { seconds, out };
}

async function startWorkers(url: string, n: number, threads: number): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: n }, () => {
      const c = spawn(process.execPath, [GRAFT, 'worker', '--redis', url, '--threads', String(threads)], { env: { ...process.env, GRAFT_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(c);
      return new Promise<ChildProcess>((resolve, reject) => {
        c.stderr!.setEncoding('utf8');
        c.stderr!.on('data', (s: string) => /waiting for shards/.test(s) && resolve(c));
        c.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
      });
    }),
  );
}

const dir = await digitFolder(Number(a['per-class']));
const n = fs.readdirSync(dir).reduce((s, c) => s + fs.readdirSync(path.join(dir, c)).length, 0);
const warm = path.join(benchCache(), 'queue-warm');
fs.mkdirSync(path.join(warm, 'x'), { recursive: true });
fs.copyFileSync(path.join(dir, '0', fs.readdirSync(path.join(dir, '0'))[0]), path.join(warm, 'x', 'a.png'));
extract(warm, []); // converts and caches the model once

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
children.push(redis);
await new Promise((r) => setTimeout(r, 500));
const url = `redis://127.0.0.1:${port}`;
const queueArgs = ['--redis', url, '--shard-size', String(a['shard-size'])];

const repeats = Number(a.repeats);
const best = (f: () => { seconds: number; out: string }) => Array.from({ length: repeats }, f).reduce((x, y) => (y.seconds < x.seconds ? y : x));
const local = best(() => extract(dir, ['--threads', '2']));
const ref = fs.readFileSync(local.out);

const results: Record<string, number> = { images: n, localSeconds: local.seconds };
for (const [workers, threads] of [[1, 2], [2, 1]] as const) {
  const ws = await startWorkers(url, workers, threads);
  extract(warm, queueArgs); // each worker opens its backbone on a first shard
  if (workers === 2) extract(warm, queueArgs);
  const r = best(() => extract(dir, queueArgs));
  if (!fs.readFileSync(r.out).equals(ref)) throw new Error(`queue rows with ${workers} worker(s) differ from local rows`);
  results[`queue${workers}Seconds`] = r.seconds;
  results[`queue${workers}Ratio`] = local.seconds / r.seconds;
  for (const w of ws) w.kill('SIGTERM');
  await Promise.all(ws.map((w) => new Promise((res) => w.on('exit', res))));
}

console.log(`${n} digit PNGs, shard size ${a['shard-size']}, whole-process wall time (fresh store, model cached), rows bit-identical in every run:`);
console.log(`  local graft extract (2 threads):       ${fmt(local.seconds, 2)} s  ${fmt(n / local.seconds, 0)} img/s`);
console.log(`  --redis, 1 worker (2 threads):         ${fmt(results.queue1Seconds, 2)} s  ${fmt(n / results.queue1Seconds, 0)} img/s  ratio ${fmt(results.queue1Ratio, 2)} (goal ≥0.9)`);
console.log(`  --redis, 2 workers (1 thread each):    ${fmt(results.queue2Seconds, 2)} s  ${fmt(n / results.queue2Seconds, 0)} img/s  ratio ${fmt(results.queue2Ratio, 2)}`);
console.log(JSON.stringify(results));
redis.kill('SIGKILL');
process.exit(0);
