/** Atomic file and directory writes: a crash or Ctrl-C never leaves a half-written result. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

function tmpSibling(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write a file via a temp file in the same directory, fsync, then rename over the target. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tmpSibling(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Temp directories being filled right now (removed on Ctrl-C by `cleanupPendingDirs`). */
const pending = new Set<string>();

/** Remove temp directories of unfinished atomic writes (call from a signal handler). */
export function cleanupPendingDirs(): void {
  for (const d of pending) fs.rmSync(d, { recursive: true, force: true });
  pending.clear();
}

/**
 * Build a directory atomically: `fill` writes into a temp directory next to `target`, which then
 * replaces `target` (an existing target is moved aside first and removed after the swap).
 */
export async function writeDirAtomic(target: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(path.resolve(target));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = tmpSibling(path.resolve(target));
  fs.mkdirSync(tmp);
  pending.add(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    pending.delete(tmp);
    throw e;
  }
  let old: string | undefined;
  if (fs.existsSync(target)) {
    old = tmpSibling(path.resolve(target)) + '.old';
    fs.renameSync(target, old);
  }
  fs.renameSync(tmp, target);
  pending.delete(tmp);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/** Root of graft's cache: $GRAFT_HOME or ~/.cache/graft. */
export function graftHome(): string {
  const env = process.env.GRAFT_HOME;
  if (env) return path.resolve(env);
  const home = process.env.HOME || process.env.USERPROFILE || '.';
  return path.join(home, '.cache', 'graft');
}
