import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadDataset } from '../src/data/index.js';
import { dataGet, extractTarGz, safeTarPath } from '../src/recipes/data-get.js';
import { DownloadError, download } from '../src/util/download.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Deterministic test payload. */
function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

// ---- a tiny tar writer (ustar) for the fake archives ----
function tarHeader(name: string, size: number, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('14000000000\0', 136, 'latin1');
  h.fill(0x20, 148, 156);
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const v of h) sum += v;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function tar(entries: { name: string; data?: Buffer; type?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(tarHeader(e.name, data.length, e.type ?? '0'), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function cifar10File(labels: number[]): Buffer {
  return Buffer.concat(labels.map((l, i) => Buffer.concat([Buffer.from([l]), pattern(3072, l * 31 + i + 1)])));
}

const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function fakeCifar10Archive(): Buffer {
  const d = 'cifar-10-batches-bin/';
  return gzipSync(
    tar([
      { name: d, type: '5' },
      ...[1, 2, 3, 4, 5].map((i) => ({ name: `${d}data_batch_${i}.bin`, data: cifar10File([i % 10, (i + 3) % 10, (i + 5) % 10]) })),
      { name: `${d}test_batch.bin`, data: cifar10File([0, 1, 2, 3]) },
      { name: `${d}batches.meta.txt`, data: Buffer.from(NAMES.join('\n') + '\n\n') },
      { name: `${d}readme.html`, data: Buffer.from('<p>fake</p>') },
      { name: 'elsewhere.txt', data: Buffer.from('not extracted') },
    ]),
  );
}

function idxGz(kind: 'images' | 'labels', n: number): Buffer {
  if (kind === 'labels') {
    const b = Buffer.alloc(8 + n);
    b.writeUInt32BE(0x801, 0);
    b.writeUInt32BE(n, 4);
    for (let i = 0; i < n; i++) b[8 + i] = i % 10;
    return gzipSync(b);
  }
  const b = Buffer.alloc(16 + n * 4 * 4);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(4, 8);
  b.writeUInt32BE(4, 12);
  pattern(n * 16, 7).copy(b, 16);
  return gzipSync(b);
}

// ---- the local server ----
const PAYLOAD = pattern(300_000);
const files = new Map<string, Buffer>();
let requests: { url: string; range?: string }[] = [];
let dropOnce = new Set<string>();
let server: http.Server;
let base: string;
let closedPort: number;
let tmp: string;

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  requests.push({ url, range: req.headers.range });
  if (url === '/stall') {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(10)); // … and nothing more
    return;
  }
  const name = url.replace(/^\/(norange\/)?/, '');
  const body = files.get(name);
  if (!body) {
    res.writeHead(404).end('not found');
    return;
  }
  if (dropOnce.has(name)) {
    // Send half the file, then cut the connection.
    dropOnce.delete(name);
    res.writeHead(200, { 'content-length': String(body.length) });
    res.write(body.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && !url.startsWith('/norange/')) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-length': String(body.length - start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': String(body.length) });
  res.end(body);
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'graft-dl-'));
  server = http.createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that nobody listens on (connections are refused).
  const s2 = http.createServer();
  await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
  closedPort = (s2.address() as AddressInfo).port;
  await new Promise<void>((r) => s2.close(() => r()));

  files.set('payload.bin', PAYLOAD);
  files.set('cifar-10-binary.tar.gz', fakeCifar10Archive());
  for (const set of ['train', 't10k']) {
    files.set(`${set}-images-idx3-ubyte.gz`, idxGz('images', set === 'train' ? 30 : 10));
    files.set(`${set}-labels-idx1-ubyte.gz`, idxGz('labels', set === 'train' ? 30 : 10));
  }
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
  dropOnce = new Set();
});

let n = 0;
const freshDest = () => path.join(tmp, `d${++n}`, 'payload.bin');

describe('download', () => {
  it('fetches a file and checks its sha256 and md5', async () => {
    const dest = freshDest();
    let last = 0;
    const r = await download(`${base}/payload.bin`, dest, { sha256: sha256(PAYLOAD), md5: md5(PAYLOAD), size: PAYLOAD.length, onProgress: (b) => (last = b) });
    assert.deepEqual(await readFile(dest), PAYLOAD);
    assert.equal(r.sha256, sha256(PAYLOAD));
    assert.equal(r.bytes, PAYLOAD.length);
    assert.equal(r.resumed, false);
    assert.equal(last, PAYLOAD.length);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  it('a checksum mismatch deletes the download and names expected and actual', async () => {
    const dest = freshDest();
    const wrong = '0'.repeat(64);
    await assert.rejects(download(`${base}/payload.bin`, dest, { sha256: wrong }), (e: Error) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, 'checksum');
      assert.ok(e.message.includes(`expected ${wrong}, got ${sha256(PAYLOAD)}`), e.message);
      assert.ok(e.message.includes(dest));
      return true;
    });
    assert.deepEqual(await readdir(path.dirname(dest)), []);
  });

  it('a dropped connection keeps the .part, and the next call resumes it with a Range request', async () => {
    const dest = freshDest();
    dropOnce.add('payload.bin');
    await assert.rejects(download(`${base}/payload.bin`, dest, { sha256: sha256(PAYLOAD), retries: 0 }), (e: Error) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, 'dropped');
      assert.match(e.message, /connection to 127\.0\.0\.1:\d+ was lost/);
      assert.ok(e.message.includes(`${dest}.part`), e.message);
      assert.ok(e.message.includes(`place it at:\n  ${dest}\n`), e.message);
      assert.ok(e.message.includes(`sha256 ${sha256(PAYLOAD)}`), e.message);
      return true;
    });
    assert.equal(existsSync(dest), false);
    assert.equal((await stat(`${dest}.part`)).size, 100_000);

    const r = await download(`${base}/payload.bin`, dest, { sha256: sha256(PAYLOAD) });
    assert.equal(r.resumed, true);
    assert.deepEqual(requests.map((q) => q.range), [undefined, 'bytes=100000-']);
    assert.equal(sha256(await readFile(dest)), sha256(PAYLOAD));
    assert.equal(existsSync(`${dest}.part`), false);
  });

  it('resumes by itself after a dropped connection (retries)', async () => {
    const dest = freshDest();
    dropOnce.add('payload.bin');
    await download(`${base}/payload.bin`, dest, { sha256: sha256(PAYLOAD) });
    assert.deepEqual(requests.map((q) => q.range), [undefined, 'bytes=100000-']);
    assert.deepEqual(await readFile(dest), PAYLOAD);
  });

  it('a server ignoring Range (200) replaces the stale .part', async () => {
    const dest = freshDest();
    await mkdir(path.dirname(dest), { recursive: true });
    await writeFile(`${dest}.part`, Buffer.alloc(5000, 0xee));
    await download(`${base}/norange/payload.bin`, dest, { sha256: sha256(PAYLOAD) });
    assert.equal(requests[0]!.range, 'bytes=5000-');
    assert.deepEqual(await readFile(dest), PAYLOAD);
  });

  it('a complete .part is verified without fetching the body again (416 / known size)', async () => {
    const dest = freshDest();
    await mkdir(path.dirname(dest), { recursive: true });
    await writeFile(`${dest}.part`, PAYLOAD);
    await download(`${base}/payload.bin`, dest, { sha256: sha256(PAYLOAD) });
    assert.deepEqual(requests.map((q) => q.range), [`bytes=${PAYLOAD.length}-`]);
    assert.deepEqual(await readFile(dest), PAYLOAD);
    const dest2 = freshDest();
    await mkdir(path.dirname(dest2), { recursive: true });
    await writeFile(`${dest2}.part`, PAYLOAD);
    requests = [];
    await download(`${base}/payload.bin`, dest2, { sha256: sha256(PAYLOAD), size: PAYLOAD.length });
    assert.equal(requests.length, 0);
  });

  it('a refused connection says the host cannot be reached, where to put the file and its checksum', async () => {
    const dest = freshDest();
    const url = `http://127.0.0.1:${closedPort}/payload.bin`;
    await assert.rejects(download(url, dest, { sha256: 'ab'.repeat(32) }), (e: Error) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, 'offline');
      assert.ok(e.message.startsWith(`cannot download ${url}: 127.0.0.1:${closedPort} can't be reached — we seem to be offline`), e.message);
      assert.match(e.message, /ECONNREFUSED/);
      assert.ok(e.message.includes(`place it at:\n  ${dest}\n`), e.message);
      assert.ok(e.message.includes(`sha256 ${'ab'.repeat(32)}`), e.message);
      return true;
    });
    assert.equal(existsSync(dest), false);
  });

  it('a stalled transfer times out with the same advice', async () => {
    const dest = freshDest();
    await assert.rejects(download(`${base}/stall`, dest, { md5: 'cd'.repeat(16), timeoutMs: 300, retries: 0 }), (e: Error) => {
      assert.ok(e instanceof DownloadError);
      assert.match(e.message, /stalled for 300 ms|ETIMEDOUT/);
      assert.ok(e.message.includes(dest) && e.message.includes(`md5 ${'cd'.repeat(16)}`), e.message);
      return true;
    });
  });

  it('an HTTP error status is reported', async () => {
    await assert.rejects(download(`${base}/missing.bin`, freshDest()), (e: Error) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, 'http');
      assert.match(e.message, /HTTP 404/);
      return true;
    });
  });
});

describe('tar reader', () => {
  it('refuses absolute paths and ..', async () => {
    assert.throws(() => safeTarPath('/etc/passwd'), /absolute/);
    assert.throws(() => safeTarPath('a/../../x'), /leaves the target folder/);
    assert.equal(safeTarPath('./a//b/c.bin'), 'a/b/c.bin');
    const archive = path.join(tmp, 'evil.tar.gz');
    await writeFile(archive, gzipSync(tar([{ name: 'ok.txt', data: Buffer.from('ok') }, { name: '../evil.txt', data: Buffer.from('x') }])));
    const out = path.join(tmp, 'evil-out');
    await mkdir(out);
    await assert.rejects(extractTarGz(archive, out), /evil\.tar\.gz: unsafe path in archive: '\.\.\/evil\.txt'/);
    assert.equal(existsSync(path.join(tmp, 'evil.txt')), false);
  });

  it('extracts regular files (plain tar too), skipping links', async () => {
    const archive = path.join(tmp, 'plain.tar');
    const big = pattern(70_000, 3);
    await writeFile(archive, tar([{ name: 'd/', type: '5' }, { name: 'd/big.bin', data: big }, { name: 'd/link', type: '2' }, { name: 'd/e.txt', data: Buffer.from('e') }]));
    const out = path.join(tmp, 'plain-out');
    const written = await extractTarGz(archive, out, { prefix: 'd/' });
    assert.deepEqual(written, ['big.bin', 'e.txt']);
    assert.deepEqual(await readFile(path.join(out, 'big.bin')), big);
    const corrupt = Buffer.from(await readFile(archive));
    corrupt[5] = 0x41; // first header's name changes; its checksum no longer matches
    await writeFile(archive, corrupt);
    await assert.rejects(extractTarGz(archive, path.join(tmp, 'corrupt-out')), /corrupt tar header at byte 0/);
  });
});

describe('dataGet', () => {
  it('downloads, verifies and extracts CIFAR-10, then finds it already there', async () => {
    const home = path.join(tmp, 'home1');
    const archive = files.get('cifar-10-binary.tar.gz')!;
    const checksums = { 'cifar-10-binary.tar.gz': { md5: md5(archive), size: archive.length } };
    const r = await dataGet('cifar10', { home, baseUrl: base, checksums, systemDirs: [] });
    const dir = path.join(home, 'datasets', 'cifar10', 'cifar-10-batches-bin');
    assert.equal(r.name, 'cifar10');
    assert.equal(r.dir, dir);
    assert.equal(r.downloaded, true);
    assert.equal(r.from, 'download');
    assert.equal(r.files.length, 7);
    for (const f of r.files) assert.ok(existsSync(f), f);
    assert.deepEqual(requests.map((q) => q.url), ['/cifar-10-binary.tar.gz']);
    assert.equal(existsSync(path.join(home, 'datasets', 'cifar10', 'cifar-10-binary.tar.gz')), false); // archive removed
    assert.equal(existsSync(path.join(home, 'datasets', 'cifar10', 'elsewhere.txt')), false);

    const ds = await loadDataset(r.dir);
    assert.deepEqual(ds.labels, NAMES);
    assert.equal(ds.samples.length, 19);
    assert.equal(ds.samples.filter((s) => s.split === 'test').length, 4);

    requests = [];
    const again = await dataGet('cifar10', { home, baseUrl: base, checksums, systemDirs: [] });
    assert.equal(again.downloaded, false);
    assert.equal(again.from, 'cache');
    assert.equal(requests.length, 0);
  });

  it('a wrong checksum fails and leaves nothing behind', async () => {
    const home = path.join(tmp, 'home2');
    const checksums = { 'cifar-10-binary.tar.gz': { sha256: 'f'.repeat(64) } };
    await assert.rejects(dataGet('cifar10', { home, baseUrl: base, checksums, systemDirs: [] }), /checksum mismatch .*sha256: expected f{64}, got/);
    assert.deepEqual(await readdir(path.join(home, 'datasets', 'cifar10')), []);
  });

  it('checksums can be overridden but not switched off', async () => {
    await assert.rejects(
      dataGet('cifar10', { home: path.join(tmp, 'home3'), baseUrl: base, checksums: { 'cifar-10-binary.tar.gz': {} }, systemDirs: [] }),
      /checksum override for cifar-10-binary\.tar\.gz must give an md5 or a sha256/,
    );
    assert.equal(requests.length, 0);
  });

  it('offline: the error names the URL, the destination and the checksum', async () => {
    const home = path.join(tmp, 'home4');
    const url = `http://127.0.0.1:${closedPort}/cifar-10-binary.tar.gz`;
    await assert.rejects(dataGet('cifar10', { home, baseUrl: `http://127.0.0.1:${closedPort}/`, systemDirs: [] }), (e: Error) => {
      assert.ok(e.message.includes(url), e.message);
      assert.ok(e.message.includes(path.join(home, 'datasets', 'cifar10', 'cifar-10-binary.tar.gz')), e.message);
      // The table's official checksum.
      assert.ok(e.message.includes('md5 c32a1d4ab5d03f1284b67883e8d87530'), e.message);
      assert.match(e.message, /offline/);
      return true;
    });
  });

  it('MNIST: keeps the .gz IDX files and verifies them; a system copy is used in place', async () => {
    const home = path.join(tmp, 'home5');
    const checksums = Object.fromEntries(
      ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => [f, { md5: md5(files.get(f)!) }]),
    );
    const r = await dataGet('mnist', { home, baseUrl: base, checksums });
    assert.equal(r.dir, path.join(home, 'datasets', 'mnist'));
    assert.equal(r.downloaded, true);
    assert.equal(requests.length, 4);
    const ds = await loadDataset(r.dir);
    assert.equal(ds.samples.length, 40);
    requests = [];
    assert.equal((await dataGet('mnist', { home, baseUrl: base, checksums })).downloaded, false);
    assert.equal(requests.length, 0);

    // Offline, the error lists every file the dataset needs.
    const home7 = path.join(tmp, 'home7');
    await assert.rejects(dataGet('mnist', { home: home7, baseUrl: `http://127.0.0.1:${closedPort}` }), (e: Error) => {
      assert.match(e.message, /can't be reached/);
      assert.ok(e.message.includes('MNIST needs all of these files:'), e.message);
      assert.ok(e.message.includes(`${path.join(home7, 'datasets', 'mnist', 't10k-labels-idx1-ubyte.gz')}  (md5 ec29112dd5afa0611ce80d1b7f02629c)`), e.message);
      return true;
    });

    // A Debian-style system copy of Fashion-MNIST.
    const sys = path.join(tmp, 'usr-share-datasets', 'fashion-mnist');
    await mkdir(sys, { recursive: true });
    for (const f of Object.keys(checksums)) await writeFile(path.join(sys, f), files.get(f)!);
    const fm = await dataGet('fashion-mnist', { home, baseUrl: `http://127.0.0.1:${closedPort}`, systemDirs: [path.join(tmp, 'nope'), sys] });
    assert.deepEqual({ dir: fm.dir, downloaded: fm.downloaded, from: fm.from, n: fm.files.length }, { dir: sys, downloaded: false, from: 'system', n: 4 });
    assert.equal(existsSync(path.join(home, 'datasets', 'fashion-mnist')), false);
  });

  it('unknown names are refused', async () => {
    await assert.rejects(dataGet('imagenet' as never, { home: path.join(tmp, 'home6') }), /unknown dataset 'imagenet' \(known: cifar10, cifar100, mnist, fashion-mnist\)/);
  });
});
