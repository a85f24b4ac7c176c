/**
 * graft cluster end to end on tiny generated images (sharp): three visibly different kinds of
 * picture, as an ImageFolder and as a flat folder; the bundled MobileNetV2 through the feature store.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { clusterRecipe } from '../src/recipes/cluster.js';
import { trainClassifier } from '../src/recipes/train.js';
import { writeClusterFolders } from '../src/strategies/cluster/folders.js';
import { rng } from '../src/util/rng.js';

const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-cluster-'));
process.env.GRAFT_HOME = path.join(tmp, 'home');
const labelled = path.join(tmp, 'labelled');
const flat = path.join(tmp, 'flat');
const KINDS = ['red', 'stripes', 'ring'] as const;
const PER_KIND = 8;

/** A 48×48 RGB picture of one kind, with seeded noise so no two are equal. */
function picture(kind: (typeof KINDS)[number], seed: number): Buffer {
  const r = rng(seed);
  const S = 48;
  const px = Buffer.alloc(S * S * 3);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const o = (y * S + x) * 3;
      const noise = () => Math.floor(r() * 40);
      let rgb: [number, number, number];
      if (kind === 'red') rgb = [200 + noise(), 20 + noise(), 20 + noise()];
      else if (kind === 'stripes') rgb = Math.floor(x / 6) % 2 ? [250 - noise(), 250 - noise(), 250 - noise()] : [20 + noise(), 120 + noise(), 20 + noise()];
      else {
        const d = Math.hypot(x - S / 2 + (seed % 5), y - S / 2);
        rgb = d > 12 && d < 18 ? [255 - noise(), 255 - noise(), 255 - noise()] : [10 + noise(), 10 + noise(), 90 + noise()];
      }
      px.set(rgb, o);
    }
  }
  return px;
}

async function writeSet(dir: string, layout: 'labelled' | 'flat'): Promise<void> {
  for (const [k, kind] of KINDS.entries()) {
    const sub = layout === 'labelled' ? path.join(dir, kind) : dir;
    fs.mkdirSync(sub, { recursive: true });
    for (let i = 0; i < PER_KIND; i++) {
      const name = layout === 'labelled' ? `${i}.png` : `${kind}-${i}.png`;
      await sharp(picture(kind, 100 * k + i), { raw: { width: 48, height: 48, channels: 3 } }).png().toFile(path.join(sub, name));
    }
  }
}

/** Every file under dir: relative path → sha256, inode and mtime (what "untouched" means). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out.set(path.relative(dir, p), `${createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${st.ino} ${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  await writeSet(labelled, 'labelled');
  await writeSet(flat, 'flat');
});

describe('graft cluster', () => {
  it('labelled folder: recovers the three kinds (ARI = 1), scores against the folder labels, seeded reruns identical', async () => {
    const out = path.join(tmp, 'out-labelled');
    const a = await clusterRecipe({ data: labelled, k: 3, out, seed: 1 });
    assert.equal(a.k, 3);
    assert.equal(a.assignments.length, 24);
    assert.equal(a.ari, 1);
    assert.equal(a.nmi, 1);
    assert.equal(a.accuracy, 1);
    assert.deepEqual(a.labels, ['red', 'ring', 'stripes']);
    assert.deepEqual(a.clusters.map((c) => c.size), [8, 8, 8]);
    assert.ok(a.clusters.every((c) => c.purity === 1));
    const html = fs.readFileSync(a.report!, 'utf8');
    assert.equal((html.match(/<div class="thumbs" data-cluster=/g) ?? []).length, 3);
    assert.ok(html.includes('cluster-scatter.png') && fs.existsSync(path.join(out, 'cluster-scatter.png')));
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'clusters.json'), 'utf8'));
    assert.deepEqual(saved.assignments, a.assignments);
    const b = await clusterRecipe({ data: labelled, k: 3, seed: 1 });
    assert.deepEqual(b.assignments, a.assignments);
    assert.equal(b.features.forwardPasses, 0, 'second run reads the feature store');
    // Ward as the second method agrees.
    const w = await clusterRecipe({ data: labelled, k: 3, method: 'ward' });
    assert.equal(w.ari, 1);
  });

  it('k auto: silhouette over the range, plotted in the report', async () => {
    const out = path.join(tmp, 'out-auto');
    const r = await clusterRecipe({ data: labelled, k: 'auto', kRange: [2, 6], out });
    assert.deepEqual(r.scores!.map((s) => s.k), [2, 3, 4, 5, 6]);
    assert.equal(r.k, r.scores!.reduce((b, s) => (s.silhouette > b.silhouette ? s : b)).k);
    assert.equal(r.k, 3, `silhouettes ${JSON.stringify(r.scores)}`);
    assert.ok(fs.existsSync(path.join(out, 'cluster-silhouette.png')));
  });

  it('flat folder → write-folders (links, sources untouched) → rename → graft train', async () => {
    const before = snapshot(flat);
    const out = path.join(tmp, 'out-flat');
    const r = await clusterRecipe({ data: flat, k: 3, out, writeFolders: true });
    assert.equal(r.nmi, null);
    assert.equal(r.ari, null);
    assert.equal(r.accuracy, null);
    assert.equal(r.labels, null);
    assert.deepEqual(snapshot(flat), before, 'source files unchanged (content, inode, mtime)');
    const folders = path.join(out, 'folders');
    assert.deepEqual(fs.readdirSync(folders).sort(), ['cluster_00', 'cluster_01', 'cluster_02']);
    assert.equal(r.folders!.linked + r.folders!.copied, 24);
    // Each cluster folder holds exactly one kind (the file names tell which), as hard links to the sources.
    for (const f of fs.readdirSync(folders)) {
      const files = fs.readdirSync(path.join(folders, f));
      assert.equal(new Set(files.map((n) => n.split('-')[0])).size, 1, `${f}: ${files}`);
      for (const n of files) if (r.folders!.linked) assert.equal(fs.statSync(path.join(folders, f, n)).ino, fs.statSync(path.join(flat, n)).ino);
    }
    // Rename each folder after its kind and train on it.
    for (const f of fs.readdirSync(folders)) fs.renameSync(path.join(folders, f), path.join(folders, fs.readdirSync(path.join(folders, f))[0].split('-')[0]));
    const t = await trainClassifier({ data: folders, out: path.join(tmp, 'model'), valPercent: 0, testPercent: 25 });
    assert.deepEqual(t.labels, ['red', 'ring', 'stripes']);
    assert.ok(t.test!.n > 0 && t.test!.accuracy === 1, `test accuracy ${t.test!.accuracy} on ${t.test!.n}`);
    assert.deepEqual(snapshot(flat), before, 'training on the links leaves the sources alone');
    // The trained bundle's network as the backbone (--from).
    const f = await clusterRecipe({ data: labelled, k: 3, from: path.join(tmp, 'model') });
    assert.equal(f.ari, 1);
    assert.notEqual(f.backbone.name, r.backbone.name);
    // A second run never replaces the folders (they hold the renames).
    await assert.rejects(clusterRecipe({ data: flat, k: 3, out, writeFolders: true }), /already exists/);
    assert.ok(fs.existsSync(path.join(folders, 'red')));
    // --copy: new files, not links.
    const c = await clusterRecipe({ data: flat, k: 3, out: path.join(tmp, 'out-copy'), writeFolders: true, copy: true });
    assert.equal(c.folders!.copied, 24);
    const one = fs.readdirSync(path.join(tmp, 'out-copy', 'folders', 'cluster_00'))[0];
    assert.notEqual(fs.statSync(path.join(tmp, 'out-copy', 'folders', 'cluster_00', one)).ino, fs.statSync(path.join(flat, one)).ino);
    assert.deepEqual(snapshot(flat), before);
  });

  it('write-folders: raw pixels (IDX/CIFAR samples) become PNGs, same-named files do not collide', async () => {
    const pixels = Buffer.from(Array.from({ length: 4 * 3 }, (_, i) => i * 20));
    const raw = { id: 'idx:train-images-idx3-ubyte#7', kind: 'raw' as const, raw: { width: 4, height: 3, channels: 1 as const }, load: async () => pixels };
    const file = (id: string) => ({ id, kind: 'encoded' as const, load: async () => fs.readFileSync(path.join(labelled, id)) });
    const dir = path.join(tmp, 'raw-folders');
    const res = await writeClusterFolders(dir, labelled, [raw, file('red/0.png'), file('ring/0.png')], [0, 1, 1], 2);
    assert.deepEqual([res.encoded, res.linked + res.copied], [1, 2]);
    const png = path.join(dir, 'cluster_00', 'idx_train-images-idx3-ubyte_7.png');
    const back = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([back.info.width, back.info.height], [4, 3]);
    assert.deepEqual([...back.data.subarray(0, 12 * back.info.channels)].filter((_, i) => i % back.info.channels === 0), [...pixels]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'cluster_01')).sort(), ['red__0.png', 'ring__0.png']);
  });

  it('bad input: one-line errors', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const oneLine = (re: RegExp) => (e: Error) => re.test(e.message) && !e.message.includes('\n');
    await assert.rejects(clusterRecipe({ data: empty, k: 3 }), oneLine(/empty: no images/));
    await assert.rejects(clusterRecipe({ data: flat, k: 25 }), oneLine(/24 images, fewer than --k 25/));
    await assert.rejects(clusterRecipe({ data: flat, k: 1 }), oneLine(/--k must be auto or an integer ≥ 2, got 1/));
    await assert.rejects(clusterRecipe({ data: flat, k: 3, writeFolders: true }), oneLine(/--write-folders needs --out/));
    await assert.rejects(clusterRecipe({ data: flat, k: 3, out: path.join(flat, 'clusters') }), oneLine(/is inside/));
    await assert.rejects(clusterRecipe({ data: flat, k: 'auto', kRange: [5, 3] }), oneLine(/--k-range must be LO-HI/));
  });

  it('CLI --json prints one object with k, assignments and the label scores', async () => {
    const res = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'cluster', labelled, '--k', '3', '--json'], {
        cwd: root,
        env: { ...process.env, GRAFT_CLI_MAIN: '1' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]);
    assert.equal(j.k, 3);
    assert.equal(j.assignments.length, 24);
    assert.ok(typeof j.assignments[0].file === 'string' && Number.isInteger(j.assignments[0].cluster));
    assert.equal(j.nmi, 1);
    assert.equal(j.ari, 1);
    assert.equal(j.accuracy, 1);
  });
});
