/** A random source in [0, 1) whose whole state is one uint32: `rng(r.state)` continues r's sequence. */
export type Rng = (() => number) & { readonly state: number };

/** Small seedable PRNG (mulberry32) so runs with the same --seed shuffle identically. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.defineProperty(next, 'state', { get: () => a }) as Rng;
}

/** In-place Fisher-Yates shuffle with the given random source. */
export function shuffle<T>(a: T[] | Int32Array, rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/**
 * The seed to hand tfjs for a graft seed. tfjs treats a falsy seed as "unseeded" in its Gaussian
 * and Gamma generators (`seed ? seed : Math.random()` — truncatedNormal, so heNormal/glorotNormal
 * initialisers), so `seed: 0` (or `seed + i` with i = 0) gave a different network on every run.
 * Every seed that reaches tfjs (initialisers, dropout) goes through here: 0 becomes 2³², which no
 * uint32 seed collides with, and every other seed passes unchanged (so seeded runs keep their weights).
 */
export function tfSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new Error(`a seed must be a finite number (got ${seed})`);
  return seed === 0 ? 2 ** 32 : seed;
}
