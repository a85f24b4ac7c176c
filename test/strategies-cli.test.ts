/** The few-shot and zero-shot commands from the shell: one JSON object with --json, one-line errors. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeMnistImageFolder } from '../src/data/index.js';
import { writeShapesDataset } from '../src/data/shapes.js';

const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-strat-cli-'));
const env = { ...process.env, GRAFT_HOME: path.join(tmp, 'home'), GRAFT_CLI_MAIN: '1' };
const digits = path.join(tmp, 'digits');
const shapes = path.join(tmp, 'shapes');

function graft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  await writeMnistImageFolder(digits, 8);
  await writeShapesDataset(shapes, { train: 5, test: 3, unseenImages: 4 });
});

test('fewshot --json: { results: [{ method, ways, shots, mean, ci95, episodes }] }; train --head prototype + add-class --json', async () => {
  const fs1 = await graft(['fewshot', digits, '--ways', '3', '--shots', '1,2', '--queries', '3', '--episodes', '5', '--method', 'proto,knn', '--out', path.join(tmp, 'fs'), '--json']);
  assert.equal(fs1.code, 0, fs1.stderr);
  const r = JSON.parse(fs1.stdout);
  assert.equal(r.results.length, 4);
  for (const x of r.results) for (const k of ['method', 'ways', 'shots', 'mean', 'ci95', 'episodes']) assert.ok(k in x, k);
  const bad = await graft(['fewshot', digits, '--method', 'maml', '--json']);
  assert.equal(bad.code, 1);
  assert.match(JSON.parse(bad.stdout).error, /unknown method "maml"; known: proto, knn, logreg, finetune/);

  const model = path.join(tmp, 'proto');
  const tr = await graft(['train', digits, '--classes', '0,1', '--head', 'prototype', '--val-percent', '0', '--test-percent', '0', '--out', model, '--json']);
  assert.equal(tr.code, 0, tr.stderr);
  assert.equal(JSON.parse(tr.stdout).head.kind, 'prototype');
  const ac = await graft(['add-class', model, path.join(digits, '7'), '--json']);
  assert.equal(ac.code, 0, ac.stderr);
  assert.deepEqual(JSON.parse(ac.stdout).labels, ['0', '1', '7']);
});

test('zeroshot --json, predict an unseen class, eval --gzsl --json: seen / unseen / h beside the usual fields', async () => {
  const out = path.join(tmp, 'zsl');
  const z = await graft(['zeroshot', '--seen', path.join(shapes, 'seen'), '--classes', path.join(shapes, 'classes.csv'), '--out', out, '--json']);
  assert.equal(z.code, 0, z.stderr);
  const zr = JSON.parse(z.stdout);
  assert.equal(zr.unseen.length, 4);
  const ev = await graft(['eval', out, path.join(shapes, 'unseen'), '--gzsl', path.join(shapes, 'seen', 'test'), '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  for (const k of ['seen', 'unseen', 'h', 'accuracy', 'perClassMeanAccuracy', 'confusion']) assert.ok(k in e, k);
  const none = await graft(['zeroshot', '--seen', path.join(shapes, 'seen'), '--out', path.join(tmp, 'z2'), '--json']);
  assert.equal(none.code, 1);
  assert.match(JSON.parse(none.stdout).error, /needs the class descriptions: --classes classes\.csv/);
});
