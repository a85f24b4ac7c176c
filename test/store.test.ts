import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { FeatureStore, extractorId } from '../src/features/store.js';

const key = (s: string) => createHash('sha256').update(s).digest('hex');
const row = (seed: number, dim: number) => Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 31 + i));

test('feature store: rows survive reopening, are content-keyed and per-extractor', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-store-'));
  const id = extractorId({ backbone: 'b', layer: 'l', view: 'none' });
  assert.notEqual(id, extractorId({ backbone: 'b', layer: 'l', view: 'flip' }));
  const s = FeatureStore.open(root, id, 8);
  for (let i = 0; i < 5; i++) s.put(key(`img${i}`), row(i, 8));
  assert.deepEqual(s.get(key('img3')), row(3, 8));
  s.close();
  const s2 = FeatureStore.open(root, id, 8);
  assert.equal(s2.size, 5);
  for (let i = 0; i < 5; i++) assert.deepEqual(s2.get(key(`img${i}`)), row(i, 8));
  assert.equal(s2.get(key('missing')), undefined);
  assert.deepEqual(s2.stats, { hits: 5, misses: 1, corrupt: 0, written: 0 });
  s2.close();
});

test('feature store: a torn tail is ignored and a corrupted row is a miss, then recomputed', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-store-'));
  const s = FeatureStore.open(root, 'x', 4);
  s.put(key('a'), row(1, 4));
  s.put(key('b'), row(2, 4));
  s.close();
  const shard = fs.readdirSync(path.join(root, 'x')).map((f) => path.join(root, 'x', f))[0];
  // Simulate Ctrl-C in the middle of a third write.
  fs.appendFileSync(shard, Buffer.alloc(20, 7));
  // Flip one payload byte of the second record.
  const buf = fs.readFileSync(shard);
  const recSize = 44 + 16;
  buf[recSize + 44 + 3] ^= 0xff;
  fs.writeFileSync(shard, buf);
  const s2 = FeatureStore.open(root, 'x', 4);
  assert.equal(s2.size, 2, 'torn tail not indexed');
  assert.deepEqual(s2.get(key('a')), row(1, 4));
  assert.equal(s2.get(key('b')), undefined, 'corrupted row is not trusted');
  assert.equal(s2.stats.corrupt, 1);
  s2.put(key('b'), row(2, 4));
  s2.close();
  const s3 = FeatureStore.open(root, 'x', 4);
  assert.deepEqual(s3.get(key('b')), row(2, 4), 'recomputed row wins');
  s3.close();
});

test('feature store: wrong row width is an error', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-store-'));
  const s = FeatureStore.open(root, 'y', 4);
  assert.throws(() => s.put(key('a'), new Float32Array(3)), /3 values, expected 4/);
  s.close();
});
