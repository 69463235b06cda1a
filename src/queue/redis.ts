import { Redis, type RedisOptions } from 'ioredis';

/**
 * Connections by role. The API fails fast when Redis is away (no offline queue: a request must not hang);
 * workers and subscribers retry forever, as BullMQ requires (maxRetriesPerRequest: null).
 */
export function createRedis(url: string, role: 'command' | 'worker' | 'subscriber', name: string): Redis {
  const base: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  const byRole: Record<typeof role, RedisOptions> = {
    command: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 },
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    subscriber: { maxRetriesPerRequest: null },
  };
  const redis = new Redis(url, { ...base, ...byRole[role] });
  // An 'error' listener is required: without one ioredis errors crash the process while it reconnects.
  redis.on('error', () => {});
  return redis;
}
