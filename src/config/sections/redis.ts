import { z } from 'zod';
import { list } from '../fields.js';

// `redis`: one Redis (redis.url), a Redis Cluster (redis.cluster.nodes) or a master watched by Sentinel
// (redis.sentinel.name + nodes). One topology per deployment: naming two is an error, never a silent pick.

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'each node is host:port (e.g. 10.0.0.5:6379, [::1]:7000)');

/**
 * Redis Cluster hashes only the part of a key inside its first non-empty `{…}`. A prefix that carries such a
 * tag puts every key under it (BullMQ's queue keys, our Lua scripts' keys, the MGETs) on one slot.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

export const redisSection = z
  .object({
    /** Single Redis. Unset: redis://127.0.0.1:6379 unless cluster or sentinel is configured. */
    url: z.string().optional(),
    /** Prefix of every key and channel; in cluster mode it is wrapped in `{…}` unless it has a hash tag. */
    key_prefix: z.string().min(1).default('aicli'),
    /** AUTH of the data nodes in cluster and sentinel mode (redis.url carries its own). */
    username: z.string().default(''),
    password: z.string().default(''),
    cluster: z
      .object({ nodes: list(hostPort).default([]) })
      .strict()
      .default({}),
    sentinel: z
      .object({
        /** The master name the sentinels monitor (`sentinel monitor <name> …`). */
        name: z.string().default(''),
        nodes: list(hostPort).default([]),
        /** AUTH of the sentinels themselves (requirepass in sentinel.conf), when they ask for one. */
        username: z.string().default(''),
        password: z.string().default(''),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    const clustered = r.cluster.nodes.length > 0;
    const sentinelled = r.sentinel.nodes.length > 0 || r.sentinel.name !== '';
    const issue = (path: string[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    if (clustered && sentinelled) {
      issue(['cluster', 'nodes'], 'redis.cluster.nodes and redis.sentinel are both set: a deployment uses one topology; remove one of them');
    }
    if (r.url !== undefined && (clustered || sentinelled)) {
      const other = clustered ? 'redis.cluster.nodes' : 'redis.sentinel';
      issue(['url'], `redis.url (REDIS_URL) and ${other} are both set: remove redis.url, the nodes name the servers`);
    }
    if (sentinelled && r.sentinel.name === '') {
      issue(['sentinel', 'name'], 'redis.sentinel.name is required with redis.sentinel.nodes: set it to the master name of `sentinel monitor <name> …`');
    }
    if (sentinelled && r.sentinel.nodes.length === 0) {
      issue(['sentinel', 'nodes'], 'redis.sentinel.nodes is empty: list the sentinels as host:port (usually 3 or more)');
    }
  })
  .transform((r) => ({
    ...r,
    url: r.url ?? DEFAULT_REDIS_URL,
    // The effective prefix: BullMQ on a cluster needs its prefix hash-tagged, and so do our multi-key scripts.
    key_prefix: r.cluster.nodes.length > 0 && !hasHashTag(r.key_prefix) ? `{${r.key_prefix}}` : r.key_prefix,
  }))
  .default({});

export type RedisSettings = z.output<typeof redisSection>;

export type RedisMode = 'single' | 'cluster' | 'sentinel';

/** The topology the section names (validated: at most one). */
export function redisMode(r: RedisSettings): RedisMode {
  return r.cluster.nodes.length > 0 ? 'cluster' : r.sentinel.nodes.length > 0 ? 'sentinel' : 'single';
}
