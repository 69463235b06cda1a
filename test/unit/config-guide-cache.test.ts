import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { localCacheOptions } from '../../src/auth/identity.js';
import { AuthInvalidation } from '../../src/auth/invalidation.js';
import { LocalCache } from '../../src/auth/local-cache.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { testConfig, testId } from '../support/config.js';
import { REDIS_URL } from '../support/services.js';

// The guide's memory FAQ ("캐시 크기 제한"), pasted as it is: `cache: {max_size: 100MB, ttl: 1h}` loads, and
// the two bounds hold for the in-process identity caches, which share one budget.
const GUIDE_CACHE = `
cache:
  max_size: 100MB  # 캐시 크기 제한
  ttl: 1h
`;
const load = (yaml: string) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'aicli-guide-cache-'));
  writeFileSync(path.join(cwd, 'config.yml'), yaml);
  return loadConfig({ cwd, env: {} }).config;
};

const id = testId('guidecache');
const subscriber = createRedis(REDIS_URL, 'subscriber', 'guide-cache-sub');
const publisher = createRedis(REDIS_URL, 'command', 'guide-cache-pub');
const invalidation = new AuthInvalidation(subscriber, publisher, `aicli-test-${id}:`, createLogger(testConfig(id, ''), 'test'));

beforeAll(() => invalidation.whenLive());
afterAll(() => {
  invalidation.close();
  subscriber.disconnect();
  publisher.disconnect();
});

describe("the guide's cache block", () => {
  it('loads as pasted, and refuses a size it cannot read with the fix', () => {
    expect(load(GUIDE_CACHE).cache).toEqual({ max_size: 100 * 1024 * 1024, ttl: 3_600_000 });
    expect(load('cache:\n  max_size: 512KB\n').cache.max_size).toBe(512 * 1024);
    expect(() => load('cache:\n  max_size: lots\n')).toThrow(/cache\.max_size: invalid size "lots" \(use e\.g\. 100MB, 512KB, 1GB\)/);
  });

  it('max_size bounds what all the identity caches hold together; the oldest entries go first', () => {
    const opts = localCacheOptions(load('cache:\n  max_size: 4KB\nauth:\n  cache:\n    ttl: 60s\n'));
    const users = new LocalCache<{ role: string; pad: string }>(opts, invalidation);
    const keys = new LocalCache<{ role: string; pad: string }>(opts, invalidation);
    const value = { role: 'user', pad: 'x'.repeat(200) };
    for (let i = 0; i < 50; i++) users.set(`user-${i}`, value, users.mark());
    expect(opts.budget!.used).toBeLessThanOrEqual(4096);
    expect(users.size).toBeGreaterThan(0);
    expect(users.size).toBeLessThan(50);
    expect(users.get('user-0')).toBeUndefined();
    expect(users.get('user-49')).toEqual(value);
    // The second cache makes room from its own entries only; what the first holds stays counted.
    for (let i = 0; i < 50; i++) keys.set(`key-${i}`, value, keys.mark());
    expect(opts.budget!.used).toBeLessThanOrEqual(4096);
    users.clear();
    keys.clear();
    expect(opts.budget!.used).toBe(0);
  });

  it('ttl is the ceiling of every entry, whatever auth.cache.ttl says', () => {
    const opts = localCacheOptions(load('cache:\n  ttl: 1s\nauth:\n  cache:\n    ttl: 1h\n'));
    expect(opts.ttlMs).toBe(1000);
    const users = new LocalCache<string>(opts, invalidation);
    users.set('u', 'admin', users.mark());
    expect(users.get('u', Date.now() + 500)).toBe('admin');
    expect(users.get('u', Date.now() + 1500)).toBeUndefined();
    // Without a cache section the defaults leave auth.cache.ttl (2s) in charge.
    expect(localCacheOptions(load('{}\n')).ttlMs).toBe(2000);
  });
});
