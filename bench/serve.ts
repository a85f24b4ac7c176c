/**
 * `graft serve` under load, against `graft extract` on the same images, in one run: autocannon
 * (N connections for T seconds, 127.0.0.1 only) POSTs MNIST digit PNGs one per request to
 * /v1/models/digits/predict of a `graft serve` child process, with dynamic batching (default
 * --max-batch 16 --max-delay 5) and without (--max-batch 1). The peer: `graft extract` on the same
 * PNGs, img/s from two whole-process runs (N images minus a 16-image run, so start-up and model
 * load cancel out), fresh feature store each time.
 *   npm run bench:serve -- [--connections 16] [--seconds 10] [--images 400] [--threads 2]
 * Last line: one JSON object with every figure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { args, benchCache, digitFolder, fmt, ROOT } from './common.js';
import { trainClassifier } from '../src/recipes/train.js';

const a = args({ connections: { type: 'string', default: '16' }, seconds: { type: 'string', default: '10' }, images: { type: 'string', default: '400' }, threads: { type: 'string', default: '2' } });
const GRAFT = path.join(ROOT, 'bin', 'graft.js');
const home = path.join(benchCache(), 'serve-home');
process.env.GRAFT_HOME = home;
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

const perClass = Math.ceil(Number(a.images) / 10);
const dir = await digitFolder(perClass);
const files = fs.readdirSync(dir).sort().flatMap((c) => fs.readdirSync(path.join(dir, c)).sort().map((f) => path.join(dir, c, f)));
const models = path.join(benchCache(), 'serve-models');
if (!fs.existsSync(path.join(models, 'digits', 'graft.json'))) await trainClassifier({ data: dir, out: path.join(models, 'digits'), limitPerClass: 10 });

/** img/s of `graft extract` on `n` of the files: (n − 16) / (t(n) − t(16)). */
function extractRate(n: number): number {
  const run = (k: number) => {
    const sub = path.join(benchCache(), `serve-extract-${k}`);
    if (!fs.existsSync(sub)) {
      fs.mkdirSync(path.join(sub, 'x'), { recursive: true });
      files.slice(0, k).forEach((f, i) => fs.copyFileSync(f, path.join(sub, 'x', `${i}.png`)));
    }
    fs.rmSync(path.join(home, 'features'), { recursive: true, force: true });
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [GRAFT, 'extract', sub, '--out', path.join(benchCache(), 'serve-extract.npy'), '--threads', a.threads, '--json'], { encoding: 'utf8', env: process.env });
    if (r.status !== 0) throw new Error(`graft extract failed: ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  };
  run(16); // converts and caches the model once
  const small = Math.min(run(16), run(16));
  const big = run(n);
  return (n - 16) / (big - small);
}

async function serve(extra: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [GRAFT, 'serve', '--models', models, '--port', '0', '--rate-limit', '0', '--threads', a.threads, '--json', ...extra], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]) as { url: string }).url);
    });
    child.on('exit', (code) => reject(new Error(`graft serve exited ${code}`)));
  });
  return { url, child };
}

interface Load {
  imagesPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

async function load(url: string, seconds: number): Promise<Load> {
  const bodies = files.map((f) => fs.readFileSync(f));
  const requests = bodies.map((body) => ({ method: 'POST' as const, path: '/v1/models/digits/predict', headers: { 'content-type': 'image/png' }, body }));
  const r = await autocannon({ url, connections: Number(a.connections), duration: seconds, requests });
  return { imagesPerSecond: r.requests.total / seconds, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

const extract = extractRate(files.length);
const results: Record<string, unknown> = { images: files.length, connections: Number(a.connections), seconds: Number(a.seconds), threads: Number(a.threads), extractImagesPerSecond: extract };
for (const [name, extra] of [['batched', []], ['unbatched', ['--max-batch', '1']]] as const) {
  const s = await serve([...extra]);
  await load(s.url, 2); // warm-up: sessions, JIT, sharp
  const r = await load(s.url, Number(a.seconds));
  const st = ((await (await fetch(`${s.url}/v1/models/digits`)).json()) as { stats: { images: number; batches: number; largestBatch: number } }).stats;
  results[name] = { ...r, ratioVsExtract: r.imagesPerSecond / extract, meanBatch: st.images / st.batches, largestBatch: st.largestBatch };
  s.child.kill('SIGINT');
  await new Promise((res) => s.child.on('exit', res));
}
const b = results.batched as Load & { ratioVsExtract: number; meanBatch: number };
const u = results.unbatched as Load & { ratioVsExtract: number };
console.log(`${files.length} MNIST digit PNGs, one per request, ${a.connections} connections × ${a.seconds} s on 127.0.0.1, ORT ${a.threads} threads (shared machine: figures taken under load):`);
console.log(`  graft extract (same PNGs):            ${fmt(extract, 0)} img/s`);
console.log(`  graft serve, dynamic batching:        ${fmt(b.imagesPerSecond, 0)} img/s  p50 ${b.p50} ms  p99 ${b.p99} ms  errors ${b.errors}  non-2xx ${b.non2xx}  ratio vs extract ${fmt(b.ratioVsExtract, 2)} (goal ≥0.8)  mean batch ${fmt(b.meanBatch, 1)}`);
console.log(`  graft serve, no batching:             ${fmt(u.imagesPerSecond, 0)} img/s  p50 ${u.p50} ms  p99 ${u.p99} ms  errors ${u.errors}  non-2xx ${u.non2xx}  ratio vs extract ${fmt(u.ratioVsExtract, 2)}`);
console.log(`  batching speed-up:                    ${fmt(b.imagesPerSecond / u.imagesPerSecond, 2)}×`);
console.log(JSON.stringify(results));
process.exit(0);
