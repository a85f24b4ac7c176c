/** `graft worker --redis URL`: compute feature shards for coordinators anywhere (src/scale/worker.ts). */
import { num, str } from '../args.js';
import { COMMON } from '../options.js';
import { defineCommand, omit } from '../spec.js';
import { setInterruptHandler } from '../../util/signals.js';

export default defineCommand({
  name: 'worker',
  summary: 'take feature-extraction shards off a Redis queue (run one per machine; Ctrl-C finishes the active shard)',
  usage: ['graft worker --redis URL [--concurrency N] [--threads N] [--shared-root DIR]'],
  groups: [
    [
      'worker options',
      {
        redis: { type: 'string', arg: 'URL', help: 'the queue: redis://host:6379[/db] (required)' },
        concurrency: { type: 'string', arg: 'N', default: '1', help: 'shards at once' },
        threads: { type: 'string', arg: 'N', default: 'all cores', help: 'onnxruntime intra-op threads per shard' },
        'shared-root': { type: 'string', arg: 'DIR', help: 'where coordinators\' --shared-root is mounted on this machine' },
        queue: { type: 'string', arg: 'NAME', default: 'graft-extract', help: 'queue name' },
        'lock-ms': { type: 'string', arg: 'MS', default: '30000', help: 'a shard whose worker died is retried after this' },
      },
    ],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft worker --redis redis://queue-host:6379 --concurrency 1', 'graft worker --redis redis://10.0.0.5:6379 --shared-root /mnt/photos --threads 4'],
  async run(pos, v, r) {
    if (pos.length) throw new Error(`graft worker takes no positional arguments (got ${pos[0]})`);
    const redis = str(v, 'redis');
    if (!redis) throw new Error('graft worker needs --redis URL');
    const { startWorker } = await import('../../scale/worker.js');
    const w = await startWorker({ redis, concurrency: num(v, 'concurrency'), threads: num(v, 'threads'), sharedRoot: str(v, 'shared-root'), queue: str(v, 'queue'), lockMs: num(v, 'lock-ms'), reporter: r });
    r.info(`worker ${w.name} waiting for shards on ${redis}`);
    await new Promise<void>((resolve) =>
      setInterruptHandler((sig) => {
        r.info(`${sig}: finishing the active shard, then exiting (again to quit now)`);
        resolve();
      }),
    );
    await w.close();
    r.info(`worker ${w.name} stopped after ${w.done} shards`);
    if (v.json) process.stdout.write(JSON.stringify({ event: 'stopped', worker: w.name, shards: w.done }) + '\n');
  },
});
