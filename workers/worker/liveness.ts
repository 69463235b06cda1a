import type { RedisClient } from '../../src/queue/redis.js';

/** Each worker keeps a key with a short TTL; a worker whose key is gone is dead and its sandboxes are orphans. */
export const workerKey = (prefix: string, workerId: string) => `${prefix}:worker:${workerId}`;

export function startHeartbeat(redis: RedisClient, prefix: string, workerId: string, ttlMs: number): { stop(): Promise<void> } {
  const beat = () => redis.set(workerKey(prefix, workerId), String(Date.now()), 'PX', ttlMs).catch(() => {});
  void beat();
  const timer = setInterval(() => void beat(), Math.max(1000, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await redis.del(workerKey(prefix, workerId)).catch(() => {});
    },
  };
}

export async function isWorkerAlive(redis: RedisClient, prefix: string, workerId: string): Promise<boolean> {
  return (await redis.exists(workerKey(prefix, workerId))) === 1;
}
