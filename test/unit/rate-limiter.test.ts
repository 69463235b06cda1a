import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter, type RateDecision, type RateRule } from '../../src/auth/rate-limiter.js';
import { createLogger } from '../../src/observability/logger.js';
import { testConfig, testId } from '../support/config.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-services.js';

/**
 * The rate limiter against real Redis, with two limiters on their own connections standing for two API
 * processes. Redis commands are counted with MONITOR on a redis-server of this test's own: on the shared one,
 * other test files' traffic races ioredis's switch into monitor mode ("Command queue state error").
 */
const id = testId('ratelimiter');
const prefix = `aicli-test-${id}:`;
const logger = createLogger(testConfig(id, 'postgres://unused/none'), 'test');
const connections: Redis[] = [];
let redis: PrivateRedis;
let monitor: Awaited<ReturnType<Redis['monitor']>>;
const seen: string[][] = [];

const connect = () => {
  const r = new Redis(redis.url);
  connections.push(r);
  return r;
};
const limiter = (syncMs: number) => new RateLimiter(connect(), prefix, [], syncMs, logger);
const settle = async (d: RateDecision | null | Promise<RateDecision | null>) => d;

/** Lease fetches that touched `bucket` so far: waits for a marker command, so every earlier one is in. */
async function fetchesOf(bucket: string): Promise<number> {
  const marker = `${prefix}marker:${Math.random()}`;
  const arrived = new Promise<void>((resolve) => {
    const onCommand = (_time: string, args: string[]) => {
      if (args[1] !== marker) return;
      monitor.off('monitor', onCommand);
      resolve();
    };
    monitor.on('monitor', onCommand);
  });
  await connections[0]?.exists(marker);
  await arrived;
  return seen.filter((args) => /^eval(sha)?$/i.test(args[0] ?? '') && args.includes(prefix + bucket)).length;
}

beforeAll(async () => {
  redis = await startPrivateRedis();
  connect();
  monitor = await connect().monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.startsWith(prefix))) seen.push(args);
  });
});

afterAll(async () => {
  const keys = await connections[0]?.keys(`${prefix}*`);
  if (keys?.length) await connections[0]?.del(...keys);
  monitor?.disconnect();
  for (const r of connections) r.disconnect();
  await redis?.stop();
});

describe('rate limits in leases', () => {
  it('a busy client across two processes gets exactly the limit, with a small fraction of the requests going to Redis', async () => {
    const rule: RateRule = { requests: 5000, window: 60_000 };
    const p1 = limiter(250);
    const p2 = limiter(250);
    let allowed = 0;
    let refused = 0;
    // 7000 requests, 50 at a time, alternating between the two processes.
    for (let burst = 0; burst < 140; burst++) {
      const process = burst % 2 === 0 ? p1 : p2;
      const decisions = await Promise.all(Array.from({ length: 50 }, () => settle(process.hit('user:busy', rule, { userId: 'busy' }))));
      for (const d of decisions) {
        expect(d).not.toBeNull();
        if (d?.allowed) allowed++;
        else refused++;
      }
    }
    expect(allowed).toBe(5000);
    expect(refused).toBe(2000);
    expect(Number(await connections[0]?.get(`${prefix}user:busy`))).toBe(5000);
    const fetches = await fetchesOf('user:busy');
    // Every refusal asks Redis again (so a reset counter helps at once); the 5000 admissions took few trips.
    expect(fetches - refused).toBeLessThan(500);
  });

  it('never refuses below the limit when requests chain two limits (per IP, then per user) concurrently', async () => {
    // As in the API: a request whose per-IP lease was being fetched resumes in a microtask and counts its
    // user at once, possibly between a new user lease being installed and its fetcher resuming.
    const rule: RateRule = { requests: 1_000_000, window: 60_000 };
    let refused = 0;
    let hops = 0;
    for (let trial = 0; trial < 40; trial++) {
      const conn = connect();
      const p = new RateLimiter(conn, prefix, [], 250, logger);
      const request = async () => {
        const byIp = p.hit(`ip:chain-${trial}`, rule, { ip: '10.1.0.1' });
        const ipDecision = byIp instanceof Promise ? await byIp : byIp;
        // Between the two checks the API does other work: here a reply on the limiter's own connection (so it
        // lands among the lease replies) and a varying number of promise hops, so every interleaving occurs.
        await conn.ping();
        for (let hop = hops++ % 6; hop > 0; hop--) await Promise.resolve();
        const byUser = await settle(p.hit(`user:chain-${trial}`, rule, { userId: `chain-${trial}` }));
        if (ipDecision?.allowed === false || byUser?.allowed === false) refused++;
      };
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 25; i++) await request();
      }));
    }
    expect(refused).toBe(0);
  });

  it('a refusal is never answered from memory: deleting the counter (the remedy in docs/troubleshooting.ko.md) helps at once', async () => {
    const rule: RateRule = { requests: 3, window: 60_000 };
    const p = limiter(250);
    const statuses: boolean[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await settle(p.hit('ip:10.0.0.1', rule, { ip: '10.0.0.1' })))?.allowed ?? true);
    expect(statuses).toEqual([true, true, true, false]);
    await connections[0]?.del(`${prefix}ip:10.0.0.1`);
    expect((await settle(p.hit('ip:10.0.0.1', rule, { ip: '10.0.0.1' })))?.allowed).toBe(true);
  });

  it('the remaining count shown stays exact for a small limit shared by two processes', async () => {
    const rule: RateRule = { requests: 6, window: 60_000 };
    const [p1, p2] = [limiter(250), limiter(250)];
    const remaining: number[] = [];
    for (let i = 0; i < 7; i++) {
      const d = await settle((i % 2 === 0 ? p1 : p2).hit('user:small', rule, { userId: 'small' }));
      remaining.push(d?.allowed ? d.remaining : -1);
    }
    expect(remaining).toEqual([5, 4, 3, 2, 1, 0, -1]);
  });

  it('with sync_interval 0 every request is counted in Redis', async () => {
    const rule: RateRule = { requests: 1000, window: 60_000 };
    const p = limiter(0);
    for (let i = 0; i < 40; i++) await settle(p.hit('user:strict', rule, { userId: 'strict' }));
    expect(await fetchesOf('user:strict')).toBe(40);
    expect(Number(await connections[0]?.get(`${prefix}user:strict`))).toBe(40);
  });

  it('a whitelisted address is not counted, from config or from the whitelist:ip:<ip> key of docs/troubleshooting.ko.md', async () => {
    const rule: RateRule = { requests: 1, window: 60_000 };
    const p = new RateLimiter(connect(), prefix, ['10.9.0.0/16'], 250, logger);
    for (let i = 0; i < 5; i++) expect(await settle(p.hit('ip:10.9.1.2', rule, { ip: '10.9.1.2' }))).toBeNull();
    await connections[0]?.set(`${prefix}whitelist:ip:10.8.0.1`, '1', 'EX', 60);
    for (let i = 0; i < 5; i++) expect(await settle(p.hit('ip:10.8.0.1', rule, { ip: '10.8.0.1' }))).toBeNull();
    expect(await connections[0]?.exists(`${prefix}ip:10.9.1.2`, `${prefix}ip:10.8.0.1`)).toBe(0);
  });
});
