import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisMode, type RedisSettings } from '../config/sections/redis.js';

/** A connection to a single Redis, a Sentinel-watched master (also a `Redis`) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export type RedisRole = 'command' | 'worker' | 'subscriber';

/**
 * Connections by role. The API fails fast when Redis is away (no offline queue: a request must not hang);
 * workers and subscribers retry forever, as BullMQ requires (maxRetriesPerRequest: null).
 *
 * Every connection of the system is made here, from the `redis` config section (a bare URL too, for
 * tools and tests). Sentinel: ioredis asks the sentinels for the master and, with failoverDetector, drops
 * its connection as soon as they announce a new one. Cluster: one client per role that follows MOVED/ASK;
 * pub/sub goes through it (PUBLISH reaches every node's subscribers).
 */
export function createRedis(target: RedisSettings | string, role: RedisRole, name: string): RedisClient {
  const base: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    // A master demoted by a failover answers writes with READONLY until the connection moves: reconnect
    // (to whatever the sentinels or the cluster now call master) and send the command again.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    command: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 },
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    subscriber: { maxRetriesPerRequest: null },
  };
  const options: RedisOptions = { ...base, ...byRole[role] };
  const redis = typeof target === 'string' ? new Redis(target, options) : connect(target, options);
  // An 'error' listener is required: without one ioredis errors crash the process while it reconnects.
  redis.on('error', () => {});
  return redis;
}

function connect(cfg: RedisSettings, options: RedisOptions): RedisClient {
  const auth = { ...(cfg.username ? { username: cfg.username } : {}), ...(cfg.password ? { password: cfg.password } : {}) };
  switch (redisMode(cfg)) {
    case 'single':
      return new Redis(cfg.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        ...auth,
        name: cfg.sentinel.name,
        sentinels: cfg.sentinel.nodes.map(hostAndPort),
        ...(cfg.sentinel.username ? { sentinelUsername: cfg.sentinel.username } : {}),
        ...(cfg.sentinel.password ? { sentinelPassword: cfg.sentinel.password } : {}),
        failoverDetector: true,
        // Sentinels are asked again after a failed connect; keep asking as long as the role retries.
        sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
      });
    case 'cluster': {
      const clusterOptions: ClusterOptions = {
        redisOptions: { ...options, ...auth },
        enableOfflineQueue: options.enableOfflineQueue ?? true,
        enableReadyCheck: true,
        clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
        // A failed-over slot answers CLUSTERDOWN or TRYAGAIN for a moment; the client waits and retries.
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 200,
        ...(options.maxRetriesPerRequest !== undefined ? { maxRetriesPerRequest: options.maxRetriesPerRequest } : {}),
      };
      return new Cluster(cfg.cluster.nodes.map(hostAndPort), clusterOptions);
    }
  }
}

/** `10.0.0.5:6379` or `[::1]:7000` (validated by the config schema). */
function hostAndPort(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(at + 1)) };
}

/** Where a connection goes, for messages: the URL without its password, or the nodes of the topology. */
export function describeRedisTarget(cfg: RedisSettings): string {
  switch (redisMode(cfg)) {
    case 'single':
      return cfg.url.replace(/\/\/[^@]*@/, '//***@');
    case 'sentinel':
      return `master "${cfg.sentinel.name}" of sentinels ${cfg.sentinel.nodes.join(',')}`;
    case 'cluster':
      return `cluster ${cfg.cluster.nodes.join(',')}`;
  }
}
