/** `graft queue status`: what the queue holds, who is working on it, and how fast it moves. */
import { Queue } from 'bullmq';
import { DEFAULT_QUEUE, redisConnection } from './protocol.js';

export interface QueueStatus {
  queue: string;
  redis: string;
  counts: Record<string, number>;
  workers: { name: string; addr?: string; idleSeconds?: number }[];
  /** Shards completed per minute, most recent minute first (workers record these). */
  completedPerMinute: number[];
}

export async function queueStatus(redis: string, name = DEFAULT_QUEUE): Promise<QueueStatus> {
  const queue = new Queue(name, { connection: { ...redisConnection(redis), retryStrategy: (n: number) => (n > 2 ? null : 200) } as never });
  queue.on('error', () => undefined);
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
    const workers = (await queue.getWorkers()).map((w) => ({
      name: String(w.rawname ?? w.name ?? '').replace(/^bull:[^:]*:w:/, '') || String(w.id),
      ...(w.addr ? { addr: String(w.addr) } : {}),
      ...(w.idle !== undefined ? { idleSeconds: Number(w.idle) } : {}),
    }));
    const m = await queue.getMetrics('completed', 0, 9);
    return { queue: name, redis, counts, workers, completedPerMinute: m.data.map(Number) };
  } catch (e) {
    throw new Error(`cannot read queue ${name} at ${redis}: ${(e as Error).message}`);
  } finally {
    await queue.close().catch(() => undefined);
  }
}
