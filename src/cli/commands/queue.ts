/** `graft queue status --redis URL`: jobs waiting/active/failed, workers alive, throughput. */
import { str } from '../args.js';
import { COMMON } from '../options.js';
import { emit } from '../output.js';
import { defineCommand, omit } from '../spec.js';

export default defineCommand({
  name: 'queue',
  summary: 'the extraction queue: jobs, workers alive, shards per minute',
  usage: ['graft queue status --redis URL [--queue NAME]'],
  groups: [
    [
      'queue options',
      {
        redis: { type: 'string', arg: 'URL', help: 'redis://host:6379[/db] (required)' },
        queue: { type: 'string', arg: 'NAME', default: 'graft-extract', help: 'queue name' },
      },
    ],
    ['common options', omit(COMMON, 'strict')],
  ],
  examples: ['graft queue status --redis redis://queue-host:6379'],
  async run(pos, v) {
    if (pos.length !== 1 || pos[0] !== 'status') throw new Error('usage: graft queue status --redis URL');
    const redis = str(v, 'redis');
    if (!redis) throw new Error('graft queue status needs --redis URL');
    const { queueStatus } = await import('../../scale/status.js');
    const s = await queueStatus(redis, str(v, 'queue'));
    emit(!!v.json, s, () => {
      const c = s.counts;
      const lines = [`queue ${s.queue} at ${s.redis}: ${c.waiting ?? 0} waiting, ${c.active ?? 0} active, ${c.completed ?? 0} completed, ${c.failed ?? 0} failed, ${c.delayed ?? 0} delayed`];
      lines.push(`workers alive: ${s.workers.length}${s.workers.length ? ` (${s.workers.map((w) => w.name).join(', ')})` : ''}`);
      lines.push(`shards completed per minute (latest first): ${s.completedPerMinute.length ? s.completedPerMinute.join(' ') : 'no data yet'}`);
      return lines.join('\n');
    });
  },
});
