/**
 * Extraction over a real job queue: a real redis-server on a free 127.0.0.1 port, real
 * `graft worker` processes, the coordinator in this process. Rows must equal a local run's bit for
 * bit through worker deaths, Redis restarts and poisoned files.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder, loadDataset } from '../src/data/index.js';
import { extractFeatures, type FeatureMatrix } from '../src/features/extract.js';
import { FeatureStore } from '../src/features/store.js';
import { openBackbone } from '../src/models/backbone.js';
import type { Backbone } from '../src/models/types.js';
import type { Sample } from '../src/data/types.js';
import { QueueCoordinator } from '../src/scale/coordinator.js';
import { queueStatus } from '../src/scale/status.js';
import { adoptAudio } from '../src/audio/adopt.js';
import { assertExtras, skipUnless } from './extras.js';
import { soundFixtures } from './sound-fixtures.js';

const skip = skipUnless('redis-server');
const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-queue-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const data = path.join(tmp, 'digits');

let samples: Sample[];
let backbone: Backbone;
let local: FeatureMatrix;
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const r = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.push(r);
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((res) => {
      const c = net.connect(port, '127.0.0.1', () => (c.end(), res(true)));
      c.on('error', () => res(false));
    });
    if (up) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`redis-server did not start on ${port}`);
}

/** A `graft worker` process; resolves once it waits for shards. `log` collects its stderr. */
async function startWorker(url: string, queue: string): Promise<{ child: ChildProcess; log: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'worker', '--redis', url, '--queue', queue, '--lock-ms', '1500', '--threads', '1'], {
    cwd: root,
    env: { ...process.env, GRAFT_HOME: path.join(tmp, `worker-home-${children.length}`) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      log.push(s);
      if (/waiting for shards/.test(s)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker exited (${code}): ${log.join('')}`)));
  });
  return { child, log };
}

const waitFor = async (what: string, cond: () => boolean, ms = 60_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const sameRows = (m: FeatureMatrix, ref: FeatureMatrix) => {
  assert.deepEqual(m.samples.map((s) => s.id), ref.samples.map((s) => s.id), 'same rows, same order, none missing or doubled');
  assert.ok(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).equals(Buffer.from(ref.data.buffer, ref.data.byteOffset, ref.data.byteLength)), 'features bit-identical to a local run');
  // libvips' detail in parentheses can read "Unknown error" under concurrency: compare up to it.
  const gist = (k: FeatureMatrix['skipped']) => k.map((x) => ({ file: x.file, reason: x.reason.replace(/\s*\(.*$/, '') }));
  assert.deepEqual(gist(m.skipped), gist(ref.skipped), 'same files skipped, same reasons');
};

before(async () => {
  if (skip) return;
  assertExtras('redis-server');
  await writeMnistImageFolder(data, 12); // 120 digits
  fs.writeFileSync(path.join(data, '4', 'poisoned.png'), fs.readFileSync(path.join(data, '4', '1.png')).subarray(0, 90)); // truncated PNG
  samples = (await loadDataset(data, { unlabelled: true })).samples;
  backbone = await openBackbone('mobilenet_v2', { threads: 1 });
  local = await extractFeatures(samples, backbone, { store: null, remote: null });
  assert.equal(local.skipped.length, 1);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await backbone?.dispose();
});

test('queue extraction equals local extraction; a poisoned file fails alone; the second run is warm', { skip }, async () => {
  const port = await freePort();
  await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  const w = await startWorker(url, 'q1');
  const store = FeatureStore.open(path.join(tmp, 'store1'), 'q1', backbone.dim);
  const coord = await QueueCoordinator.connect({ redis: url, queue: 'q1', shardSize: 32, pollMs: 50 });
  try {
    const progress: number[] = [];
    const m = await extractFeatures(samples, backbone, { store, remote: coord, reporter: { info() {}, warn() {}, progress: () => ({ tick: (n = 1) => void progress.push(n), done() {} }) } });
    sameRows(m, local);
    assert.equal(m.computed, 120);
    assert.equal(progress.reduce((a, b) => a + b, 0), samples.length, 'the bar reaches the total exactly once');
    const again = await extractFeatures(samples, backbone, { store, remote: coord });
    assert.equal(again.computed, 0, 'a rerun is answered from the store');
    sameRows(again, local);
    const st = await queueStatus(url, 'q1');
    assert.equal(st.workers.length, 1);
    assert.equal(st.counts.waiting + st.counts.active + st.counts.failed, 0);
    assert.ok(w.log.join('').includes('skipped'), 'the worker reports its shards');
    const exit = new Promise<number | null>((r) => w.child.on('exit', (code) => r(code)));
    w.child.kill('SIGTERM');
    assert.equal(await exit, 0, 'SIGTERM: the worker finishes its shard and exits cleanly');
    assert.match(w.log.join(''), /stopped after \d+ shards/);
  } finally {
    store.close();
    await coord.close();
  }
});

test('a worker killed mid-shard: another worker redoes it, rows still bit-identical', { skip }, async () => {
  const port = await freePort();
  await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  const a = await startWorker(url, 'q2');
  const coord = await QueueCoordinator.connect({ redis: url, queue: 'q2', shardSize: 16, pollMs: 50, window: 2 });
  try {
    const run = extractFeatures(samples, backbone, { store: null, remote: coord });
    await waitFor('worker A to take a shard', () => /started/.test(a.log.join('')));
    a.child.kill('SIGKILL');
    const b = await startWorker(url, 'q2');
    const m = await run;
    sameRows(m, local);
    assert.match(b.log.join(''), /after 1 stalled worker/, 'the dead worker\'s shard was retried (stalled-job recovery)');
  } finally {
    await coord.close();
  }
});

test('Redis restarted without its data mid-run: lost shards are added again', { skip }, async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  const w = await startWorker(url, 'q3');
  const coord = await QueueCoordinator.connect({ redis: url, queue: 'q3', shardSize: 16, pollMs: 50, window: 8 });
  try {
    let rows = 0;
    const store = { getInto: () => false, put: () => void rows++, close() {} } as unknown as FeatureStore;
    const run = extractFeatures(samples, backbone, { store, remote: coord });
    await waitFor('a first shard', () => rows > 0);
    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    redis = await startRedis(port);
    const m = await run;
    sameRows(m, local);
    assert.match(w.log.join(''), /completed|rows/);
  } finally {
    await coord.close();
  }
});

test('a worker that would compute other features refuses the shard; no Redis is a clear error', { skip }, async () => {
  const port = await freePort();
  await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  await startWorker(url, 'q4');
  const coord = await QueueCoordinator.connect({ redis: url, queue: 'q4', pollMs: 50 });
  try {
    // The coordinator's backbone claims other weights than the worker's copy of mobilenet_v2 has.
    const other = Object.assign(Object.create(Object.getPrototypeOf(backbone)), backbone, { weightsHash: 'f'.repeat(64) }) as Backbone;
    await assert.rejects(extractFeatures(samples.slice(0, 4), other, { store: null, remote: coord }), /refused|would compute other features/);
  } finally {
    await coord.close();
  }
  const dead = await freePort();
  await assert.rejects(QueueCoordinator.connect({ redis: `redis://127.0.0.1:${dead}` }), /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
});

test('a folder of sounds over the queue: the worker reads them through the same front-end, rows bit-identical', { skip }, async () => {
  const { tone, noise, write } = soundFixtures(16000);
  const dir = path.join(tmp, 'sounds');
  for (let i = 0; i < 6; i++) {
    write(path.join(dir, 'tone', `${i}.wav`), tone(12000, 300 + 40 * i, i));
    write(path.join(dir, 'noise', `${i}.wav`), noise(16000, 100 + i));
  }
  const ds = await loadDataset(dir, { unlabelled: true });
  assert.ok(ds.audio, 'the folder is read as sounds');
  const sb = adoptAudio(await openBackbone('mobilenet_v2', { threads: 1 }), ds.audio);
  const port = await freePort();
  await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  await startWorker(url, 'q5');
  const coord = await QueueCoordinator.connect({ redis: url, queue: 'q5', shardSize: 5, pollMs: 50 });
  try {
    const ref = await extractFeatures(ds.samples, sb, { store: null, remote: null });
    assert.equal(ref.samples.length, 12);
    sameRows(await extractFeatures(ds.samples, sb, { store: null, remote: coord }), ref);
  } finally {
    await coord.close();
    await sb.dispose();
  }
});
