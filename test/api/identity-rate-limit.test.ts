import { request } from 'node:http';
import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';

/**
 * Two real `aicli-web api` processes sharing Redis (run `npm run build` first). Each test speaks from its
 * own loopback address (127.x.y.z is all loopback on Linux), so counts and whitelist keys never meet
 * another test's.
 */
const id = testId('idratelimit');
let db: TestDatabase;
let apis: Array<{ proc: CliProcess; url: URL }> = [];
let redis: Redis;
const prefix = `aicli-test-${id}`;
const sourceIp = () => `127.${randomInt(100, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
const configWhitelisted = sourceIp();
const seedKeys: string[] = [];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

/** One request from `from` (a loopback source address) to one of the API processes. */
function send(api: { url: URL }, from: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: api.url.hostname,
        port: api.url.port,
        method,
        path,
        localAddress: from,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : null }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path} within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  db = await createTestDatabase('idratelimit');
  const env = testEnv(id, db.url, {
    PORT: '0',
    AICLI__RATE_LIMIT__PER_IP__REQUESTS: '5',
    AICLI__RATE_LIMIT__PER_IP__WINDOW: '1m',
    AICLI__RATE_LIMIT__LOGIN__REQUESTS: '3',
    AICLI__RATE_LIMIT__WHITELIST: `["${configWhitelisted}"]`,
  });
  const procs = [spawnCli(['api'], env), spawnCli(['api'], env)];
  apis = await Promise.all(
    procs.map(async (proc) => {
      const [, url] = await proc.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
      return { proc, url: new URL(url as string) };
    }),
  );
});

afterAll(async () => {
  await Promise.all(apis.map((a) => a.proc.stop('SIGTERM')));
  if (seedKeys.length) await redis.del(...seedKeys);
  redis?.disconnect();
  await db?.drop();
});

describe('rate limits shared by two API processes through Redis', () => {
  it('the limit + 1st request from an address is 429 with Retry-After, whichever process it reaches', async () => {
    const [a, b] = apis as [(typeof apis)[0], (typeof apis)[0]];
    expect(a.url.port).not.toBe(b.url.port);
    const ip = sourceIp();
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await send(i % 2 === 0 ? a : b, ip, 'GET', '/api/v1/workspaces');
      expect(res.status).toBe(401);
      remaining.push(String(res.headers['ratelimit-remaining']));
      expect(res.headers['ratelimit-limit']).toBe('5');
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    for (const api of [b, a]) {
      const res = await send(api, ip, 'GET', '/api/v1/workspaces');
      expect(res.status).toBe(429);
      const retry = Number(res.headers['retry-after']);
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60);
      expect(res.json).toEqual({ error: 'Rate limit exceeded', message: 'IP rate limit exceeded', retry_after: retry });
      expect(res.headers['ratelimit-remaining']).toBe('0');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // The remedy in docs/troubleshooting.ko.md, under the Redis prefix: delete the address's counter and it may call again.
    expect(await redis.del(`${prefix}:ip:${ip}`)).toBe(1);
    expect((await send(a, ip, 'GET', '/api/v1/workspaces')).status).toBe(401);
    // Health probes are never limited.
    expect((await send(a, ip, 'GET', '/healthz')).status).toBe(200);
  });

  it('a whitelisted address is not limited: the whitelist:ip:<ip> key of docs/troubleshooting.ko.md, and rate_limit.whitelist', async () => {
    const ip = sourceIp();
    seedKeys.push(`whitelist:ip:${ip}`);
    await redis.set(`whitelist:ip:${ip}`, '1', 'EX', 3600);
    for (const from of [ip, configWhitelisted]) {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await send(apis[i % 2] as (typeof apis)[0], from, 'GET', '/api/v1/workspaces')).status);
      expect(statuses).toEqual(Array(12).fill(401));
    }
    // Not counted at all while whitelisted.
    expect(await redis.exists(`${prefix}:ip:${ip}`, `${prefix}:ip:${configWhitelisted}`)).toBe(0);
  });

  it('logins have a stricter limit of their own', async () => {
    const ip = sourceIp();
    const statuses: number[] = [];
    let last: Reply | undefined;
    for (let i = 0; i < 4; i++) {
      last = await send(apis[i % 2] as (typeof apis)[0], ip, 'POST', '/api/v1/auth/login', { email: 'nobody@example.com', password: 'wrong' });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(last?.json).toMatchObject({ error: 'Rate limit exceeded', message: 'too many login attempts from this IP address' });
    expect(last?.headers['retry-after']).toBeDefined();
  });

  it('a body over server.body_limit_bytes is 413 over HTTP, announced or chunked; a GET is not read at all', async () => {
    const ip = sourceIp();
    const big = JSON.stringify({ prompt: 'x'.repeat(1_100_000) });
    const announced = await send(apis[0] as (typeof apis)[0], ip, 'POST', '/api/v1/tasks', JSON.parse(big));
    expect(announced.status).toBe(413);
    expect(announced.json.error).toBe('Payload too large');

    const chunked = await new Promise<number>((resolve, reject) => {
      const api = apis[1] as (typeof apis)[0];
      const req = request(
        { host: api.url.hostname, port: api.url.port, method: 'POST', path: '/api/v1/tasks', localAddress: ip, headers: { 'content-type': 'application/json' }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      for (let i = 0; i < 11; i++) req.write('x'.repeat(100_000));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await send(apis[0] as (typeof apis)[0], ip, 'GET', '/api/v1/workspaces')).status).toBe(401);
  });
});

