/**
 * Opt-in stage profile of one process: `GRAFT_PROFILE=FILE.json graft extract …` writes, at exit,
 * the milliseconds spent in each named stage (and how often it ran), the start-up time (process
 * start → first command line parsed), the wall time and the process CPU time. Off (no timers at
 * all) unless the variable is set. Stages that run concurrently (decodes on the thread pool) are
 * summed per call; `*-wait` stages are the time the main thread was blocked on them.
 */
import fs from 'node:fs';

const FILE = process.env.GRAFT_PROFILE;
export const profiling = !!FILE;

const stages = new Map<string, { ms: number; n: number }>();
const marks: Record<string, number> = {};

export function addStage(name: string, ms: number, n = 1): void {
  const s = stages.get(name);
  if (s) {
    s.ms += ms;
    s.n += n;
  } else stages.set(name, { ms, n });
}

/** Time a synchronous step. */
export function timed<T>(name: string, f: () => T): T {
  if (!profiling) return f();
  const t = performance.now();
  try {
    return f();
  } finally {
    addStage(name, performance.now() - t);
  }
}

/** Time an asynchronous step (from call to settlement). */
export async function timedAsync<T>(name: string, f: () => Promise<T>): Promise<T> {
  if (!profiling) return f();
  const t = performance.now();
  try {
    return await f();
  } finally {
    addStage(name, performance.now() - t);
  }
}

/** Record a point in time (ms since the process started), e.g. 'startup'. */
export function mark(name: string): void {
  if (profiling && marks[name] === undefined) marks[name] = performance.now();
}

export interface Profile {
  marks: Record<string, number>;
  stages: Record<string, { ms: number; n: number }>;
  wallMs: number;
  cpuMs: { user: number; system: number };
}

export function profileSnapshot(): Profile {
  const cpu = process.cpuUsage();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    marks: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, round(v)])),
    stages: Object.fromEntries([...stages].map(([k, v]) => [k, { ms: round(v.ms), n: v.n }])),
    wallMs: round(performance.now()),
    cpuMs: { user: round(cpu.user / 1000), system: round(cpu.system / 1000) },
  };
}

if (FILE) process.on('exit', () => fs.writeFileSync(FILE, JSON.stringify(profileSnapshot(), null, 1) + '\n'));
