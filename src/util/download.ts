/**
 * HTTP(S) download into a file: written to `<dest>.part`, resumed with a Range request when a
 * partial `.part` exists, checked against a checksum, then renamed over `dest` (so `dest` is either
 * absent or complete and verified). When the host can't be reached, the error says so and tells
 * exactly where to put the file by hand, with the checksum it must have.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

export interface DownloadOptions {
  /** Expected sha256 (hex). */
  sha256?: string;
  /** Expected md5 (hex), for files whose publisher gives only md5. */
  md5?: string;
  /** Expected size in bytes. */
  size?: number;
  /** Called as bytes arrive: bytes in `.part` so far, and the total when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Give up when the connection or the transfer is idle this long (default 30 000 ms). */
  timeoutMs?: number;
  /** Resume this many times by itself when the connection drops mid-transfer (default 2). */
  retries?: number;
}

export interface DownloadResult {
  dest: string;
  bytes: number;
  sha256: string;
  md5: string;
  /** Some bytes came from an earlier, interrupted download. */
  resumed: boolean;
}

export type DownloadErrorKind = 'offline' | 'dropped' | 'http' | 'checksum' | 'size';

/** A download failure; `kind` tells what went wrong, the message what to do about it. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly kind: DownloadErrorKind,
    readonly url: string,
    readonly dest: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** sha256 and md5 of a file, streamed. */
export async function hashFile(file: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes };
}

/** "sha256 abc…" / "md5 abc…" / both, for messages. */
export function describeChecksum(c: { sha256?: string; md5?: string; size?: number }): string {
  const parts: string[] = [];
  if (c.sha256) parts.push(`sha256 ${c.sha256.toLowerCase()}`);
  if (c.md5) parts.push(`md5 ${c.md5.toLowerCase()}`);
  const sums = parts.join(' and ');
  if (c.size === undefined) return sums;
  return sums ? `${sums} (${c.size} bytes)` : `${c.size} bytes`;
}

/** Whether a file's hashes match the expected ones; returns the first mismatch. */
export function checksumMismatch(
  got: { sha256: string; md5: string; bytes: number },
  want: { sha256?: string; md5?: string; size?: number },
): string | undefined {
  if (want.size !== undefined && got.bytes !== want.size) return `size: expected ${want.size} bytes, got ${got.bytes}`;
  if (want.sha256 && got.sha256 !== want.sha256.toLowerCase()) return `sha256: expected ${want.sha256.toLowerCase()}, got ${got.sha256}`;
  if (want.md5 && got.md5 !== want.md5.toLowerCase()) return `md5: expected ${want.md5.toLowerCase()}, got ${got.md5}`;
  return undefined;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The "place it by hand" part of a network error. */
function byHand(url: string, dest: string, opts: DownloadOptions): string {
  const sum = describeChecksum(opts);
  return (
    `To install it by hand, fetch ${url} on a machine that is online and place it at:\n  ${dest}\n` +
    (sum ? `It must have ${sum}.` : 'No checksum is known for it; make sure it is the right file.')
  );
}

interface Attempt {
  /** Bytes in .part after the attempt. */
  have: number;
  total: number | undefined;
}

/** A network-level failure of one attempt (before or during the transfer). */
class NetFailure extends Error {
  constructor(
    override readonly cause: Error,
    readonly started: boolean,
  ) {
    super(cause.message);
  }
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** GET `url` (following redirects) with an optional Range; resolves with the response. */
function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<{ res: http.IncomingMessage; url: string }> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`invalid URL: ${url}`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) {
      reject(new Error(`unsupported URL scheme ${u.protocol} in ${url}`));
      return;
    }
    const req = mod.get(u, { headers: { 'user-agent': 'graft', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) {
          reject(new Error(`too many redirects at ${url}`));
          return;
        }
        const next = new URL(res.headers.location, u).toString();
        request(next, headers, timeoutMs, redirects - 1).then(resolve, reject);
        return;
      }
      resolve({ res, url });
    });
    req.setTimeout(timeoutMs, () => {
      const e = new Error(`no response within ${timeoutMs} ms`) as NodeJS.ErrnoException;
      e.code = 'ETIMEDOUT';
      req.destroy(e);
    });
    req.on('error', (e) => reject(new NetFailure(e, false)));
  });
}

/** Parse `Content-Range: bytes a-b/total` (or the unsatisfied-range form with a star before the slash). */
function parseContentRange(v: string | undefined): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v?.trim() ?? '');
  if (!m) return {};
  return { start: m[1] !== undefined ? Number(m[1]) : undefined, total: m[2] !== '*' ? Number(m[2]) : undefined };
}

/** One GET into `part`, resuming from its current length; network trouble → NetFailure. */
async function attempt(url: string, part: string, dest: string, opts: DownloadOptions, timeoutMs: number): Promise<Attempt> {
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (opts.size !== undefined && have > opts.size) {
    await rm(part, { force: true });
    have = 0;
  }
  if (opts.size !== undefined && have === opts.size) return { have, total: opts.size };

  const { res } = await request(url, have > 0 ? { range: `bytes=${have}-` } : {}, timeoutMs);
  const status = res.statusCode ?? 0;
  let append = false;
  let total: number | undefined;
  if (status === 206 && have > 0) {
    const cr = parseContentRange(res.headers['content-range']);
    if (cr.start !== have) {
      // Not the range we asked for: start over.
      res.resume();
      await rm(part, { force: true });
      return attempt(url, part, dest, opts, timeoutMs);
    }
    append = true;
    total = cr.total;
  } else if (status === 416 && have > 0) {
    res.resume();
    const cr = parseContentRange(res.headers['content-range']);
    if (cr.total === have) return { have, total: have }; // .part was already complete
    await rm(part, { force: true });
    return attempt(url, part, dest, opts, timeoutMs);
  } else if (status === 200) {
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
    have = 0; // a full body: the server ignored Range (or there was none)
  } else {
    res.resume();
    throw new DownloadError(
      `cannot download ${url}: the server answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}.\n${byHand(url, dest, opts)}`,
      'http',
      url,
      dest,
    );
  }
  total ??= opts.size;

  const fh = await open(part, append ? 'a' : 'w');
  let received = have;
  try {
    opts.onProgress?.(received, total);
    res.setTimeout(timeoutMs, () => {
      const e = new Error(`the transfer stalled for ${timeoutMs} ms`) as NodeJS.ErrnoException;
      e.code = 'ETIMEDOUT';
      res.destroy(e);
    });
    try {
      for await (const chunk of res) {
        await fh.write(chunk as Buffer);
        received += (chunk as Buffer).length;
        opts.onProgress?.(received, total);
      }
    } catch (e) {
      throw new NetFailure(e as Error, true);
    }
    if (!res.complete) throw new NetFailure(new Error('the connection closed before the end of the file'), true);
  } finally {
    await fh.close();
  }
  if (total !== undefined && received < total) {
    throw new NetFailure(new Error(`the connection closed after ${received} of ${total} bytes`), true);
  }
  return { have: received, total };
}

/**
 * Download `url` to `dest` (see the module comment). Resolves with the file's size and hashes;
 * throws a DownloadError whose message names the URL, `dest` and the expected checksum.
 */
export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const retries = opts.retries ?? 2;
  const part = `${dest}.part`;
  await mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const resumedFrom = (await stat(part).catch(() => undefined))?.size ?? 0;

  for (let tries = 0; ; tries++) {
    try {
      await attempt(url, part, dest, opts, timeoutMs);
      break;
    } catch (e) {
      if (!(e instanceof NetFailure)) throw e;
      const partSize = (await stat(part).catch(() => undefined))?.size ?? 0;
      if (e.started && tries < retries && partSize > 0) continue; // resume right away
      const host = (() => {
        try {
          return new URL(url).host;
        } catch {
          return url;
        }
      })();
      const code = errCode(e.cause);
      const why = code && e.cause.message.includes(code) ? e.cause.message : `${e.cause.message}${code ? ` (${code})` : ''}`;
      const head = e.started
        ? `cannot download ${url}: the connection to ${host} was lost — we may be offline (${why}).`
        : `cannot download ${url}: ${host} can't be reached — we seem to be offline (${why}).`;
      const kept = partSize > 0 ? `\n${fmtBytes(partSize)} received so far are kept in ${part}; running again resumes there.` : '';
      throw new DownloadError(`${head}${kept}\n${byHand(url, dest, opts)}`, e.started ? 'dropped' : 'offline', url, dest);
    }
  }

  const got = await hashFile(part);
  const bad = checksumMismatch(got, opts);
  if (bad) {
    await rm(part, { force: true });
    const isSize = bad.startsWith('size');
    throw new DownloadError(
      `${isSize ? 'size' : 'checksum'} mismatch for ${url}: ${bad}. The download was deleted; nothing was written to ${dest}.`,
      isSize ? 'size' : 'checksum',
      url,
      dest,
    );
  }
  await rename(part, dest);
  return { dest, bytes: got.bytes, sha256: got.sha256, md5: got.md5, resumed: resumedFrom > 0 };
}
