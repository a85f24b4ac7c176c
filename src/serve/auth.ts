/**
 * Bearer-token check. The token is compared in constant time (both sides hashed to 32 bytes first,
 * so neither the content nor the length leaks through timing). Off the loopback interface the
 * server refuses to start without a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Throws unless the server may start on `host` with this token. */
export function checkExposure(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < 16) throw new Error('--token must be at least 16 characters');
  if (!isLoopback(host) && !token) throw new Error(`--host ${host} is reachable from other machines: give --token (or GRAFT_TOKEN) so requests must carry "Authorization: Bearer TOKEN"`);
}

/** A checker of `Authorization` headers for `token`. */
export function bearerChecker(token: string): (header: string | undefined) => void {
  const want = digest(token);
  return (header) => {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (!m) throw new HttpError(401, 'UNAUTHORIZED', 'missing "Authorization: Bearer TOKEN" header');
    if (!timingSafeEqual(digest(m[1].trim()), want)) throw new HttpError(401, 'UNAUTHORIZED', 'wrong bearer token');
  };
}
