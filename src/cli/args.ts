/** Small typed helpers over node:util parseArgs values. */
export type Values = Record<string, string | boolean | undefined>;

export function num(v: Values, key: string): number | undefined {
  const s = v[key];
  if (s === undefined || typeof s === 'boolean') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`--${key} expects a number, got "${s}"`);
  return n;
}

export function str<T extends string = string>(v: Values, key: string, allowed?: readonly T[]): T | undefined {
  const s = v[key];
  if (s === undefined || typeof s === 'boolean') return undefined;
  if (allowed && !allowed.includes(s as T)) throw new Error(`--${key} must be one of ${allowed.join(', ')}; got "${s}"`);
  return s as T;
}

export function list(v: Values, key: string): string[] | undefined {
  const s = str(v, key);
  return s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean);
}
