/**
 * The recipes beyond train/finetune/fewshot as server jobs, on a real `graft serve` (127.0.0.1,
 * port 0): adapt on two data-root folders (MNIST-style source, MNIST-M-style target, written by
 * src/data/domains.ts) publishes OUT/model — and only it — as the served model; distill takes a
 * served model as its teacher; transfer publishes OUT/target; pretrain its bundle. Bad `target`
 * and `teacher` values are 400s naming the problem.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDomainFolder } from '../src/data/domains.js';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { misclassifiedFile } from '../src/serve/jobs/thumbs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-serve-recipes-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const dataRoot = path.join(tmp, 'data');
const models = path.join(tmp, 'models');
const CLASSES = [0, 1, 2];
let server: RunningServer;

before(async () => {
  await writeDomainFolder(path.join(dataRoot, 'mnist'), 'mnist', { perClass: 8, classes: CLASSES });
  await writeDomainFolder(path.join(dataRoot, 'mnist-m'), 'mnist-m', { perClass: 8, classes: CLASSES, offset: 50, seed: 2 });
  fs.writeFileSync(path.join(dataRoot, 'notes.txt'), 'not a folder');
  fs.mkdirSync(path.join(tmp, 'outside', '0'), { recursive: true });
  fs.symlinkSync(path.join(tmp, 'outside'), path.join(dataRoot, 'escape'));
  fs.mkdirSync(models);
  server = await startServer({ models, dataRoot, port: 0, rateLimit: 0, pollMs: 200 });
});
after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const post = async (body: unknown) => {
  const r = await fetch(server.url + '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

/** Poll a job until it is finished; returns its record. */
async function finished(id: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const t0 = Date.now();
  for (;;) {
    const j = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as Record<string, any>;
    if (['done', 'failed', 'cancelled'].includes(j.state)) return j;
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${j.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Labels the served model gives the first `n` images of each class folder under `dir`. */
async function predictFolder(name: string, dir: string, n: number): Promise<{ truth: string; got: string }[]> {
  const out: { truth: string; got: string }[] = [];
  for (const c of CLASSES.map(String)) {
    for (const f of fs.readdirSync(path.join(dir, c)).sort().slice(0, n)) {
      const r = await fetch(`${server.url}/v1/models/${name}/predict`, { method: 'POST', body: fs.readFileSync(path.join(dir, c, f)), headers: { 'content-type': 'image/png' } });
      assert.equal(r.status, 200, `predict with ${name}`);
      out.push({ truth: c, got: ((await r.json()) as any).predictions[0].label });
    }
  }
  return out;
}

const modelNames = () => fs.readdirSync(models).filter((f) => !f.startsWith('.')).sort();

test('adapt job: source + target folders under the data root → OUT/model is the served model; distill from it as a served teacher', { timeout: 120_000 }, async () => {
  const r = await post({ name: 'da', recipe: 'adapt', data: 'mnist', target: 'mnist-m', options: { method: 'coral', 'val-percent': 20, 'test-percent': 0 } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.target, fs.realpathSync(path.join(dataRoot, 'mnist-m')));
  const job = await finished(r.body.id);
  assert.equal(job.state, 'done', job.error);
  assert.equal(job.result.chosen, 'coral');
  assert.equal(job.result.bundle, path.join(fs.realpathSync(models), 'da'), 'the published bundle is the served model folder');
  assert.ok(fs.existsSync(path.join(models, 'da', 'graft.json')), 'OUT/model (the bundle) was published, not OUT');
  assert.ok(!fs.existsSync(path.join(models, 'da', 'adapt.json')) && !fs.existsSync(path.join(models, 'da', 'methods')), "OUT's other files stay in the job folder");
  assert.ok(fs.existsSync(path.join(models, '.jobs', r.body.id, 'out', 'adapt.json')));
  assert.deepEqual(modelNames(), ['da']);
  const listed = ((await (await fetch(`${server.url}/v1/models`)).json()) as any).models;
  assert.deepEqual(listed.map((m: any) => m.name), ['da'], 'served by the registry right after "done"');
  const preds = await predictFolder('da', path.join(dataRoot, 'mnist'), 3);
  for (const p of preds) assert.ok(CLASSES.map(String).includes(p.got));
  const right = preds.filter((p) => p.got === p.truth).length;
  assert.ok(right >= 7, `the adapted model labels its own source digits: ${right}/9 right`);

  const d = await post({ name: 'student', recipe: 'distill', data: 'mnist', teacher: 'da', options: { epochs: 3, widths: '8,16' } });
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.equal(d.body.teacher, path.join(fs.realpathSync(models), 'da'), 'the teacher is resolved on the server');
  const dj = await finished(d.body.id);
  assert.equal(dj.state, 'done', dj.error);
  assert.equal(dj.result.bundle, path.join(fs.realpathSync(models), 'student'));
  assert.deepEqual(modelNames(), ['da', 'student'], 'the label-only baseline and the report stay in the job folder');
  assert.ok(fs.existsSync(path.join(models, '.jobs', d.body.id, 'out', 'student-label-only', 'graft.json')));
  assert.equal((await predictFolder('student', path.join(dataRoot, 'mnist'), 1)).length, 3);
});

test('transfer and pretrain jobs publish their bundles (OUT/target; OUT)', { timeout: 120_000 }, async () => {
  const t = await post({ name: 'tl', recipe: 'transfer', data: 'mnist', target: 'mnist-m', options: { 'source-unfreeze': 1, 'source-epochs': 1, 'source-freeze-epochs': 1, 'val-percent': 20, 'test-percent': 0 } });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  const p = await post({ name: 'ssl', recipe: 'pretrain', data: 'mnist-m', options: { method: 'rotation', unfreeze: 1, epochs: 1, probe: 'none', k: 3 } });
  assert.equal(p.status, 201, JSON.stringify(p.body));
  const tj = await finished(t.body.id);
  assert.equal(tj.state, 'done', tj.error);
  assert.equal(tj.result.bundle, path.join(fs.realpathSync(models), 'tl'));
  assert.ok(fs.existsSync(path.join(models, '.jobs', t.body.id, 'out', 'transfer.json')));
  assert.equal((await predictFolder('tl', path.join(dataRoot, 'mnist-m'), 1)).length, 3);
  const pj = await finished(p.body.id);
  assert.equal(pj.state, 'done', pj.error);
  assert.equal(pj.result.bundle, path.join(fs.realpathSync(models), 'ssl'));
  const served = ((await (await fetch(`${server.url}/v1/models/ssl`)).json()) as any);
  assert.equal(served.labels.length, 3, 'the pretrain bundle (3 cluster classes) is served');
  assert.ok(!fs.existsSync(path.join(models, '.jobs', p.body.id, 'ckpt')), 'its checkpoint is removed once done');
  assert.deepEqual(modelNames().filter((m) => ['tl', 'ssl'].includes(m)), ['ssl', 'tl']);
  // disentangle: like adapt, OUT/model is published; it resumes with --resume inside its own OUT.
  const ds = await post({ name: 'dsn', recipe: 'disentangle', data: 'mnist', target: 'mnist-m', options: { epochs: 3, hidden: 16, code: 4, 'no-baselines': true, 'val-percent': 20, 'test-percent': 0 } });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  const dsj = await finished(ds.body.id);
  assert.equal(dsj.state, 'done', dsj.error);
  assert.equal(dsj.result.bundle, path.join(fs.realpathSync(models), 'dsn'));
  assert.ok(typeof dsj.result.probes.shared.domain === 'number', 'the probes are in the job result');
  assert.ok(fs.existsSync(path.join(models, '.jobs', ds.body.id, 'out', 'disentangle.json')));
  assert.equal((await predictFolder('dsn', path.join(dataRoot, 'mnist'), 1)).length, 3);
});

test('bad target and teacher values are 400s naming the problem; nothing is left behind', async () => {
  const jobsBefore = fs.readdirSync(path.join(models, '.jobs')).length;
  const bad: [unknown, RegExp][] = [
    [{ name: 'x', recipe: 'adapt', data: 'mnist' }, /graft adapt needs "target": a second folder under the server's data root/],
    [{ name: 'x', recipe: 'transfer', data: 'mnist', target: 3 }, /graft transfer needs "target"/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: '../..' }, /"target" must be a relative path inside the data root without "\.\."/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'mnist/../../x' }, /"target" must be a relative path/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: path.join(dataRoot, 'mnist-m') }, /"target" must be a relative path/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'escape' }, /"target": "escape" leads outside the data root \(symlink\)/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'nope' }, /"target": no folder "nope" in the data root/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'notes.txt' }, /"target": "notes.txt" is not a folder/],
    [{ name: 'x', recipe: 'adapt', data: 'escape', target: 'mnist-m' }, /"data": "escape" leads outside/],
    [{ name: 'x', recipe: 'train', data: 'mnist', target: 'mnist-m' }, /"target" is for adapt and transfer, not train/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'mnist-m', options: { target: '/etc' } }, /option "target" cannot be set/],
    [{ name: 'x', recipe: 'adapt', data: 'mnist', target: 'mnist-m', options: { 'target-test': 'mnist' } }, /option "target-test" cannot be set/],
    [{ name: 'x', recipe: 'distill', data: 'mnist' }, /graft distill needs "teacher": the name of a model this server serves/],
    [{ name: 'x', recipe: 'distill', data: 'mnist', teacher: '../models/da' }, /needs "teacher"/],
    [{ name: 'x', recipe: 'distill', data: 'mnist', teacher: 'ghost' }, /"teacher": no model "ghost" is served here \(ready: /],
    [{ name: 'x', recipe: 'distill', data: 'mnist', teacher: 'da', options: { teacher: '/tmp/evil' } }, /option "teacher" cannot be set/],
    [{ name: 'x', recipe: 'train', data: 'mnist', teacher: 'da' }, /"teacher" is for distill, not train/],
  ];
  for (const [spec, re] of bad) {
    const b = await post(spec);
    assert.equal(b.status, 400, JSON.stringify(spec));
    assert.match(b.body.error, re, JSON.stringify(spec));
  }
  assert.equal(fs.readdirSync(path.join(models, '.jobs')).length, jobsBefore, 'refused jobs leave no folders');
});

test('misclassified thumbnails resolve only to files inside the job data folder', () => {
  const dir = path.join(dataRoot, 'mnist');
  const real = misclassifiedFile(dir, '0/' + fs.readdirSync(path.join(dir, '0')).sort()[0]);
  assert.ok(real.startsWith(fs.realpathSync(dir) + path.sep));
  fs.writeFileSync(path.join(tmp, 'outside', 'secret.png'), 'x');
  fs.symlinkSync(path.join(tmp, 'outside', 'secret.png'), path.join(dir, '0', 'link.png'));
  const refused: [string, RegExp][] = [
    ['../notes.txt', /not a file inside/],
    ['/etc/passwd', /not a file inside/],
    ['0\\..\\..\\notes.txt', /not a file inside/],
    ['idx:train-images#3', /not a file inside/],
    ['0//x.png', /not a file inside/],
    ['0/missing.png', /no longer in the job's data folder/],
    ['0/link.png', /leads outside/],
    ['0', /is not a file/],
  ];
  for (const [file, re] of refused) assert.throws(() => misclassifiedFile(dir, file), (e: Error & { status?: number }) => e.status === 404 && re.test(e.message), file);
  fs.rmSync(path.join(dir, '0', 'link.png'));
});

test('job command lines: recipes that checkpoint continue after a restart (finetune/pretrain into the job checkpoint, adapt/disentangle/transfer inside their OUT)', async () => {
  const { jobArgv } = await import('../src/serve/jobs/spec.js');
  const inputs = { data: '/d', target: '/t', work: '/w', checkpoint: '/c' };
  const argv = (recipe: string) => jobArgv({ name: 'm', recipe, options: {} } as never, inputs);
  assert.deepEqual(argv('finetune').slice(-3), ['--checkpoint', '/c', '--resume']);
  assert.deepEqual(argv('pretrain').slice(-3), ['--checkpoint', '/c', '--resume']);
  for (const r of ['adapt', 'disentangle', 'transfer']) {
    assert.equal(argv(r).at(-1), '--resume', r);
    assert.ok(!argv(r).includes('--checkpoint'), `${r} checkpoints inside --out`);
  }
  assert.ok(!argv('train').includes('--resume'));
});
