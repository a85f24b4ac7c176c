/** The command line: one JSON object on stdout with --json, clear one-line errors, clean Ctrl-C. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { COMMANDS } from '../src/cli/commands/index.js';
import { optionsOf } from '../src/cli/spec.js';

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

test('graft train --help: its own options with their defaults, not finetune\'s', async () => {
  const h = await graft(['train', '--help']);
  assert.equal(h.code, 0, h.stderr);
  assert.equal(h.stderr, '');
  assert.match(h.stdout, /^graft train: /);
  assert.match(h.stdout, /usage:\n {2}graft train DATA --out DIR/);
  assert.match(h.stdout.replace(/\n {6,}/g, ' '), /--head linear\|mlp\|prototype .*\(default: linear\)/); // an option's help may wrap
  assert.match(h.stdout, /--hidden N\[,N…\] .*\(default: 512\)/);
  assert.match(h.stdout, /--val-percent P .*\(default: 10\)/);
  assert.match(h.stdout, /-o, --out DIR/);
  assert.match(h.stdout, /examples:\n {2}graft train /);
  assert.doesNotMatch(h.stdout, /--unfreeze|--freeze-epochs|--budgets/);
  const ft = await graft(['finetune', '--help']);
  const flat = ft.stdout.replace(/\n {6,}/g, ' '); // an option's help may wrap
  assert.match(flat, /--unfreeze K\|all .*\(default: 2\)/);
  assert.match(flat, /--lr LR .*\(default: 1e-2\)/);
  assert.match(flat, /--epochs N .*\(default: 6\)/);
  assert.equal((await graft(['help', 'finetune'])).stdout, ft.stdout);
  assert.equal((await graft(['finetune', '-h'])).stdout, ft.stdout);
});

test('every command in the table has a help page naming each of its options; the global page lists them all', async () => {
  const global = await graft(['--help']);
  assert.equal(global.code, 0);
  assert.equal((await graft([])).stdout, global.stdout);
  assert.equal((await graft(['help'])).stdout, global.stdout);
  assert.match(global.stdout, /^graft \d+\.\d+\.\d+ /);
  assert.match(global.stdout, /graft COMMAND --help/);
  assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length);
  for (const cmd of COMMANDS) {
    assert.ok(global.stdout.includes(`  ${cmd.name} `), `global help lists ${cmd.name}`);
    const h = await graft([cmd.name, '--help']);
    assert.equal(h.code, 0, `${cmd.name}: ${h.stderr}`);
    for (const line of h.stdout.split('\n')) assert.ok(line.length <= 110, `${cmd.name} --help: line of ${line.length} chars: ${line}`);
    for (const u of cmd.usage) assert.ok(u.startsWith(`graft ${cmd.name}`), `${cmd.name} usage: ${u}`);
    for (const [name, o] of Object.entries(optionsOf(cmd))) {
      const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.arg}` : ''}`;
      assert.ok(h.stdout.includes(flag), `${cmd.name} --help names ${flag}`);
      if (o.default !== undefined) assert.ok(h.stdout.replace(/\n +/g, ' ').includes(`(default: ${o.default})`), `${cmd.name} --${name}: default ${o.default}`);
    }
    for (const opt of ['--json', '--help']) assert.ok(h.stdout.includes(opt), `${cmd.name} takes ${opt}`);
  }
});

test('an unknown option is rejected by name, with a suggestion, for any command', async () => {
  const zoo = await graft(['zoo', '--unfreeze', '2']);
  assert.equal(zoo.code, 1);
  assert.equal(zoo.stdout, '');
  assert.equal(zoo.stderr.trim().split('\n').length, 1, zoo.stderr);
  assert.match(zoo.stderr, /^graft zoo: unknown option --unfreeze \(graft finetune, .*take --unfreeze\); see graft zoo --help$/m);

  const train = await graft(['train', data, '--epoch', '3']);
  assert.equal(train.code, 1);
  assert.equal(train.stderr.trim().split('\n').length, 1, train.stderr);
  assert.match(train.stderr, /^graft train: unknown option --epoch \(did you mean --epochs\?\); see graft train --help$/m);

  const value = await graft(['train', data, '--out']);
  assert.equal(value.code, 1);
  assert.match(value.stderr, /graft train: --out needs a value \(DIR\)/);
});

test('an unknown command names the known ones', async () => {
  const r = await graft(['trian', data]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /unknown command "trian" \(did you mean train\?\)/);
  for (const c of COMMANDS) assert.ok(r.stderr.includes(c.name), `names ${c.name}`);
  assert.match((await graft(['help', 'nope'])).stderr, /unknown command "nope".*finetune/);
});

test('--json with a bad option prints one {"error": …} object', async () => {
  for (const args of [['train', data, '--json', '--epoch', '3'], ['zoo', '--unfreeze', '2', '--json'], ['train', data, '--out', '--json']]) {
    const r = await graft(args);
    assert.equal(r.code, 1, args.join(' '));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    const e = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(e), ['error']);
    assert.match(e.error, /^graft (train|zoo): .*--(epoch|unfreeze|out)\b/);
  }
});
