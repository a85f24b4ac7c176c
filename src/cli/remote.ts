/**
 * `--redis URL`: a command's store-filling extraction goes through the job queue (src/scale/)
 * instead of the local engine, for as long as the command runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../util/log.js';
import { num, str, type Values } from './args.js';
import type { OptionTable } from './spec.js';

export const QUEUE: OptionTable = {
  redis: { type: 'string', arg: 'URL', help: 'extract on `graft worker`s through this Redis (BullMQ) instead of here' },
  'shard-size': { type: 'string', arg: 'N', default: '256', help: '--redis: images per queue job' },
  'shared-root': { type: 'string', arg: 'DIR', help: '--redis: send paths under DIR (mounted by every worker), not bytes' },
};

/** Run `fn` with the queue as the process's extractor when --redis is given. */
export async function withRemote<T>(v: Values, r: Reporter, fn: () => Promise<T>): Promise<T> {
  const url = str(v, 'redis');
  if (!url) return fn();
  const [{ QueueCoordinator }, { setRemoteExtractor }] = await Promise.all([import('../scale/coordinator.js'), import('../features/remote.js')]);
  const weights = str(v, 'weights');
  const sharedRoot = str(v, 'shared-root');
  if (sharedRoot && !fs.existsSync(sharedRoot)) throw new Error(`--shared-root ${sharedRoot}: no such folder`);
  const coordinator = await QueueCoordinator.connect({
    redis: url,
    shardSize: num(v, 'shard-size'),
    sharedRoot: sharedRoot && path.resolve(sharedRoot),
    weights: weights && fs.existsSync(weights) ? path.resolve(weights) : weights,
    reporter: r,
  });
  setRemoteExtractor(coordinator);
  try {
    return await fn();
  } finally {
    setRemoteExtractor(undefined);
    await coordinator.close();
  }
}
