import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { hasHashTag, redisMode } from '../../src/config/sections/redis.js';
import { describeRedisTarget } from '../../src/queue/redis.js';

// The `redis` section: one Redis (url), a cluster or a sentinel-watched master, never two at once; the
// effective key prefix of a cluster is hash-tagged. Read from the environment, as a deployment sets it.

const cwd = mkdtempSync(path.join(tmpdir(), 'aicli-config-redis-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const load = (env: Record<string, string>) => loadConfig({ cwd, env }).config.redis;
const failure = (env: Record<string, string>) => {
  try {
    load(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the configuration loaded');
};

describe('redis configuration', () => {
  it('defaults to one Redis on loopback, and REDIS_URL still names it', () => {
    expect(redisMode(load({}))).toBe('single');
    expect(load({})).toMatchObject({ url: 'redis://127.0.0.1:6379', key_prefix: 'aicli' });
    expect(load({ REDIS_URL: 'redis://10.0.0.5:6380/2' })).toMatchObject({ url: 'redis://10.0.0.5:6380/2' });
    expect(describeRedisTarget(load({ REDIS_URL: 'redis://:hunter2@10.0.0.5:6380' }))).toBe('redis://***@10.0.0.5:6380');
  });

  it('a cluster: nodes as a comma list, the prefix wrapped in a hash tag unless it has one', () => {
    const nodes = '10.0.0.1:7000,10.0.0.2:7000,[::1]:7001';
    const r = load({ AICLI__REDIS__CLUSTER__NODES: nodes });
    expect(redisMode(r)).toBe('cluster');
    expect(r.cluster.nodes).toEqual(['10.0.0.1:7000', '10.0.0.2:7000', '[::1]:7001']);
    expect(r.key_prefix).toBe('{aicli}');
    expect(load({ AICLI__REDIS__CLUSTER__NODES: nodes, AICLI__REDIS__KEY_PREFIX: 'eu-{prod}' }).key_prefix).toBe('eu-{prod}');
    // An empty tag is no tag: Redis would hash the whole key.
    expect(load({ AICLI__REDIS__CLUSTER__NODES: nodes, AICLI__REDIS__KEY_PREFIX: 'a{}b' }).key_prefix).toBe('{a{}b}');
    expect(describeRedisTarget(r)).toBe(`cluster ${r.cluster.nodes.join(',')}`);
  });

  it('a single Redis keeps its prefix as written', () => {
    expect(load({ AICLI__REDIS__KEY_PREFIX: 'aicli' }).key_prefix).toBe('aicli');
  });

  it('a sentinel-watched master: name and nodes', () => {
    const r = load({ AICLI__REDIS__SENTINEL__NAME: 'mymaster', AICLI__REDIS__SENTINEL__NODES: '10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379' });
    expect(redisMode(r)).toBe('sentinel');
    expect(r).toMatchObject({ key_prefix: 'aicli', sentinel: { name: 'mymaster' } });
    expect(r.sentinel.nodes).toHaveLength(3);
  });

  it('refuses two topologies at once, naming both and the fix', () => {
    expect(failure({ AICLI__REDIS__CLUSTER__NODES: '10.0.0.1:7000', AICLI__REDIS__SENTINEL__NAME: 'm', AICLI__REDIS__SENTINEL__NODES: '10.0.0.1:26379' })).toBe(
      'failed to load configuration: redis.cluster.nodes: redis.cluster.nodes and redis.sentinel are both set: a deployment uses one topology; remove one of them',
    );
    expect(failure({ REDIS_URL: 'redis://10.0.0.5:6379', AICLI__REDIS__CLUSTER__NODES: '10.0.0.1:7000' })).toBe(
      'failed to load configuration: redis.url: redis.url (REDIS_URL) and redis.cluster.nodes are both set: remove redis.url, the nodes name the servers',
    );
    expect(failure({ REDIS_URL: 'redis://10.0.0.5:6379', AICLI__REDIS__SENTINEL__NAME: 'm', AICLI__REDIS__SENTINEL__NODES: '10.0.0.1:26379' })).toContain(
      'redis.url (REDIS_URL) and redis.sentinel are both set',
    );
  });

  it('refuses a half-configured sentinel and a node that is not host:port', () => {
    expect(failure({ AICLI__REDIS__SENTINEL__NODES: '10.0.0.1:26379' })).toContain('redis.sentinel.name is required with redis.sentinel.nodes');
    expect(failure({ AICLI__REDIS__SENTINEL__NAME: 'mymaster' })).toContain('redis.sentinel.nodes is empty: list the sentinels as host:port');
    expect(failure({ AICLI__REDIS__CLUSTER__NODES: 'redis://10.0.0.1:7000' })).toBe(
      'failed to load configuration: redis.cluster.nodes.0: each node is host:port (e.g. 10.0.0.5:6379, [::1]:7000)',
    );
  });

  it('knows a hash tag', () => {
    expect(hasHashTag('{aicli}')).toBe(true);
    expect(hasHashTag('x{a}')).toBe(true);
    expect(hasHashTag('aicli')).toBe(false);
    expect(hasHashTag('a{}b')).toBe(false);
    expect(hasHashTag('a}b{')).toBe(false);
  });
});
