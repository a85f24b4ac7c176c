/** The command line: one JSON object on stdout with --json, clear one-line errors, clean Ctrl-C. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';

const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-cli-'));
const data = path.join(tmp, 'digits');
const env = { ...process.env, GRAFT_HOME: path.join(tmp, 'home'), GRAFT_CLI_MAIN: '1' };

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function graft(args: string[], opts: { onStderr?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), child);
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

before(async () => {
  await writeMnistImageFolder(data, 10);
});

test('train/eval/predict/extract --json print exactly one JSON object', async () => {
  const out = path.join(tmp, 'model');
  const tr = await graft(['train', data, '--out', out, '--classes', '3,6,9', '--json', '--test-percent', '20']);
  assert.equal(tr.code, 0, tr.stderr);
  const t = JSON.parse(tr.stdout);
  assert.equal(t.bundle, out);
  assert.equal(typeof t.val.accuracy, 'number');
  assert.equal(t.data.used, 30);
  assert.deepEqual(t.data.skipped, []);
  assert.equal(t.features.computed + t.features.cached, 30);

  const ev = await graft(['eval', out, data, '--classes', '3,6,9', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  assert.deepEqual(e.labels, ['3', '6', '9']);
  assert.equal(e.confusion.length, 3);
  assert.ok(e.perClass['6'].recall >= 0);

  const imgs = [path.join(data, '3', fs.readdirSync(path.join(data, '3'))[0]), path.join(data, '9', fs.readdirSync(path.join(data, '9'))[0])];
  const pr = await graft(['predict', out, ...imgs, path.join(tmp, 'missing.png'), '--json']);
  assert.equal(pr.code, 0, pr.stderr);
  const p = JSON.parse(pr.stdout);
  assert.equal(p.predictions.length, 2);
  assert.ok(['3', '6', '9'].includes(p.predictions[0].label));
  assert.equal(Object.keys(p.predictions[0].probabilities).length, 3);
  assert.equal(p.skipped[0].file, path.join(tmp, 'missing.png'));

  const ex = await graft(['extract', data, '--classes', '3,6', '--format', 'npy', '--out', path.join(tmp, 'f.npy'), '--json']);
  assert.equal(ex.code, 0, ex.stderr);
  const x = JSON.parse(ex.stdout);
  assert.equal(x.dim, 1280);
  assert.equal(x.files.length, 20);
  assert.deepEqual(x.files, [...x.files].sort());

  const human = await graft(['eval', out, data, '--classes', '3,6,9']);
  assert.match(human.stdout, /accuracy [\d.]+% on 30 images/);
  assert.match(human.stdout, /confusion/);
});

test('bad input: one-line errors and a non-zero exit', async () => {
  const missing = await graft(['train', path.join(tmp, 'nope'), '--out', path.join(tmp, 'm'), '--json']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope: no such directory/);
  assert.deepEqual(Object.keys(JSON.parse(missing.stdout)), ['error']);

  const one = path.join(tmp, 'one');
  fs.cpSync(path.join(data, '1'), path.join(one, 'ones'), { recursive: true });
  const single = await graft(['train', one, '--out', path.join(tmp, 'm')]);
  assert.equal(single.code, 1);
  assert.match(single.stderr, /at least 2 classes/);
  assert.equal(single.stderr.trim().split('\n').length, 1, single.stderr);

  const unknown = await graft(['train', data, '--out', path.join(tmp, 'm'), '--classes', '1,x']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /x/);

  const badFlag = await graft(['train', data, '--bogus']);
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.stderr, /bogus/);
  assert.ok(!fs.existsSync(path.join(tmp, 'm')));
});

test('Ctrl-C during train leaves no bundle and a usable cache', async () => {
  const out = path.join(tmp, 'interrupted');
  const run = await graft(['train', data, '--out', out], {
    onStderr: (chunk, child) => {
      if (/images, \d+ classes/.test(chunk)) child.kill('SIGINT');
    },
  });
  assert.equal(run.code, 130, run.stderr);
  assert.ok(!fs.existsSync(out), 'no half-written bundle');
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], 'no temp dirs left');
  const again = await graft(['train', data, '--out', out, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).data.used, 100);
});
