/** graft transfer: the two-stage chain end to end, and an interrupted source stage resumed to the same weights. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDomainFolder } from '../src/data/domains.js';
import { transferRecipe, type TransferOptions } from '../src/recipes/transfer.js';
import { silentReporter, type Reporter } from '../src/util/log.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-transfer-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');

test('transfer: source fine-tune then a target head; an interrupted source stage continues with resume to the same bundle', async () => {
  const source = path.join(tmp, 'mnist');
  const target = path.join(tmp, 'fonts');
  await writeDomainFolder(source, 'mnist', { perClass: 12, classes: [0, 1, 2] });
  await writeDomainFolder(target, 'font-digits', { perClass: 8, classes: [3, 4], seed: 2 });
  const o: TransferOptions = { source, target, out: path.join(tmp, 'full'), sourceUnfreeze: 1, sourceEpochs: 2, sourceFreezeEpochs: 1, valPercent: 20, testPercent: 0, seed: 3 };
  const full = await transferRecipe(o);
  assert.deepEqual(full.target.labels, ['3', '4']);
  assert.ok(fs.existsSync(path.join(full.target.bundle, 'graft.json')));
  const out = path.join(tmp, 'cut');
  let ticks = 0;
  const stopper: Reporter = { ...silentReporter, progress: (label, total) => (label === 'epochs' ? { tick: () => { if (++ticks === 2) throw new Error('interrupted'); }, done: () => undefined } : silentReporter.progress(label, total)) };
  await assert.rejects(transferRecipe({ ...o, out, reporter: stopper }), /interrupted/);
  assert.ok(fs.existsSync(path.join(out, 'source.ckpt')), 'the source stage left its checkpoint');
  assert.ok(!fs.existsSync(path.join(out, 'target')), 'no target bundle yet');
  const resumed = await transferRecipe({ ...o, out, resume: true });
  assert.ok(fs.readFileSync(path.join(resumed.source.bundle, 'weights.bin')).equals(fs.readFileSync(path.join(full.source.bundle, 'weights.bin'))), 'resumed source stage = uninterrupted, bit for bit');
  assert.ok(full.target.val !== undefined);
  assert.equal(resumed.target.val?.accuracy, full.target.val?.accuracy, "the same target head on the same source network");
  assert.ok(!fs.existsSync(path.join(out, 'source.ckpt')), 'finished: the checkpoint is removed');
  fs.rmSync(tmp, { recursive: true, force: true });
});
