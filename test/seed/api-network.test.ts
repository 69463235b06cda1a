import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type ApiServer } from '../../src/api/server.js';
import { createSql } from '../../src/db/client.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { identityEnv, type IdentityEnv } from '../api/identity-support.js';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig, TEST_JWT_SECRET } from '../support/config.js';
import { REDIS_URL } from '../support/services.js';
import { scratchDir, writeFile } from './seed-support.js';

// Guide section 3, "API 및 네트워크 문제": a request past server.read_timeout, a page on another origin, and
// the per-IP and per-user rate limits; each over a real socket, with our answer, the remedy and the recovery.
const run = promisify(execFile);
const REDIS_PORT = new URL(REDIS_URL).port || '6379';
let env: IdentityEnv;
const servers: ApiServer[] = [];
const apps: TestApp[] = [];

beforeAll(async () => {
  env = await identityEnv('seedapi');
  await env.user('alice@example.com');
});

afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await Promise.all(apps.map((a) => a.close()));
  await env?.close();
});

/** An API process of its own over a real loopback socket; answers its config and base URL. */
async function serve(overrides: Parameters<typeof testConfig>[2], logLines: string[] = []): Promise<{ config: Config; base: string; server: ApiServer }> {
  const config = testConfig(env.id, env.db.url, overrides);
  const t = buildTestApp(config, env.db.sql);
  apps.push(t);
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const server = await listen(t.app, { ...config.server, host: '127.0.0.1', port: 0 }, { logger });
  servers.push(server);
  return { config, server, base: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

/** A login whose body arrives in two parts, `gapMs` apart; answers the status line and the body. */
function slowLogin(base: string, gapMs: number): Promise<{ status: string; body: string }> {
  const { port } = new URL(base);
  const body = JSON.stringify({ email: 'alice@example.com', password: 'correct horse battery' });
  const head = `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(head + body.slice(0, 10));
      setTimeout(() => socket.writable && socket.write(body.slice(10)), gapMs).unref();
    });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve({ status: text.split('\r\n')[0] ?? '', body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    socket.on('error', reject);
  });
}

describe('1. API 응답 시간 초과: timeout: request timeout after 30s', () => {
  it('a request slower than server.read_timeout is answered 408 with the guide\'s line and logged; a larger read_timeout serves it', async () => {
    const lines: string[] = [];
    const short = await serve({ server: { read_timeout: '1s' } }, lines);
    const cut = await slowLogin(short.base, 2500);
    expect(cut.status).toBe('HTTP/1.1 408 Request Timeout');
    expect(JSON.parse(cut.body)).toEqual({
      error: 'Request timeout',
      message: 'timeout: request timeout after 1s: the request was not received in time (server.read_timeout); a slow client or upload needs a larger server.read_timeout',
    });
    // The guide's `grep -i "slow\|timeout" app.log`.
    expect(lines.filter((l) => /slow|timeout/i.test(l)).join('\n')).toMatch(/"action":"read_timeout"/);

    // The guide's remedy: `server.read_timeout: 60s` (here 5s is enough for a 2.5 s pause).
    const longer = await serve({ server: { read_timeout: '5s' } });
    const served = await slowLogin(longer.base, 2500);
    expect(served.status).toBe('HTTP/1.1 200 OK');
    expect(JSON.parse(served.body).access_token).toEqual(expect.any(String));
  });

  it("the guide's timeout block loads as it is and each key reaches the HTTP server and the pool", async () => {
    const cwd = scratchDir('timeouts');
    writeFile(
      cwd,
      'config.yml',
      `# config.yml
server:
  read_timeout: 60s    # 기본 30s에서 60s로 증가
  write_timeout: 60s
  idle_timeout: 120s

# 데이터베이스 타임아웃
database:
  max_idle_conns: 10
  max_open_conns: 100
  conn_max_lifetime: 1h
`,
    );
    const { config } = loadConfig({ cwd, env: {} });
    expect(config.server).toMatchObject({ read_timeout: 60_000, write_timeout: 60_000, idle_timeout: 120_000 });
    expect(config.database).toMatchObject({ max_idle_conns: 10, max_open_conns: 100, conn_max_lifetime: 3_600_000 });
    const t = buildTestApp(testConfig(env.id, env.db.url), env.db.sql);
    apps.push(t);
    const server = await listen(t.app, { ...config.server, host: '127.0.0.1', port: 0 });
    servers.push(server);
    expect({ request: server.requestTimeout, headers: server.headersTimeout, keepAlive: server.keepAliveTimeout }).toEqual({
      request: 60_000,
      headers: 60_000,
      keepAlive: 120_000,
    });
    const sql = createSql({ ...config.database, url: env.db.url });
    try {
      expect(sql.options).toMatchObject({ max: 100, max_lifetime: 3600 });
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe("2. CORS 오류: No 'Access-Control-Allow-Origin' header is present", () => {
  const preflight = (base: string, origin: string) =>
    fetch(`${base}/api/v1/workspaces`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });

  it('with no origin listed the page gets no allow header and a message naming the key; the guide\'s block lets it in', async () => {
    const closed = await serve({});
    const refused = await preflight(closed.base, 'http://localhost:3000');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: 'CORS origin not allowed',
      message: 'origin http://localhost:3000 is not in security.cors.allowed_origins',
    });

    const cwd = scratchDir('cors');
    writeFile(
      cwd,
      'config.yml',
      `# config.yml
security:
  cors:
    allowed_origins:
      - "http://localhost:3000"
      - "https://yourdomain.com"
    allowed_methods:
      - "GET"
      - "POST"
      - "PUT"
      - "DELETE"
      - "OPTIONS"
    allowed_headers:
      - "Content-Type"
      - "Authorization"
      - "X-Requested-With"
`,
    );
    expect(loadConfig({ cwd, env: {} }).config.security.cors.allowed_origins).toEqual(['http://localhost:3000', 'https://yourdomain.com']);
    // The same text, unparsed, as this process's config (a parsed config would be parsed twice).
    const open = await serve({ security: parse(readFileSync(path.join(cwd, 'config.yml'), 'utf8')).security });
    // The guide's `curl -X OPTIONS ... -H "Origin: http://localhost:3000" -H "Access-Control-Request-Method: POST" -v`.
    const allowed = await preflight(open.base, 'http://localhost:3000');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('Content-Type, Authorization, X-Requested-With');
    // Another origin stays refused.
    const other = await preflight(open.base, 'http://evil.example.com');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('3. Rate Limit 초과: {"error": "요청 한도 초과", "message": "IP 요청 한도를 초과했습니다", "retry_after": 60}', () => {
  const GUIDE_RATE_LIMIT = `# config.yml
rate_limit:
  per_ip:
    requests: 100    # 너무 낮은 경우 증가
    window: "1m"
  per_user:
    requests: 500
    window: "1m"
`;

  it("the guide's limits, loaded as they are: the 101st request of an address is the guide's 429; the documented DEL lifts it", async () => {
    const cwd = scratchDir('rate');
    writeFile(cwd, 'config.yml', GUIDE_RATE_LIMIT);
    expect(loadConfig({ cwd, env: {} }).config.rate_limit).toMatchObject({ per_ip: { requests: 100, window: 60_000 }, per_user: { requests: 500, window: 60_000 } });
    // 192.168.1.100 as the guide has it: a proxy on loopback forwards for it.
    const { base, config } = await serve({ rate_limit: parse(GUIDE_RATE_LIMIT).rate_limit, security: { trusted_proxies: ['127.0.0.1'] } });
    const ip = '192.168.1.100';
    const get = () => fetch(`${base}/api/v1/workspaces`, { headers: { 'x-forwarded-for': ip, 'accept-language': 'ko' } });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await get()).status);
    expect(statuses.every((s) => s === 401)).toBe(true);
    const limited = await get();
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { retry_after: number };
    expect(body).toEqual({ error: '요청 한도 초과', message: 'IP 요청 한도를 초과했습니다', retry_after: expect.any(Number) });
    expect(body.retry_after).toBeGreaterThan(0);
    expect(body.retry_after).toBeLessThanOrEqual(60);
    expect(limited.headers.get('retry-after')).toBe(String(body.retry_after));

    // The guide's `redis-cli DEL "ip:192.168.1.100"` names no key here: counters carry redis.key_prefix.
    expect((await run('redis-cli', ['-p', REDIS_PORT, 'DEL', `ip:${ip}`])).stdout.trim()).toBe('0');
    expect((await get()).status).toBe(429);
    // docs/troubleshooting.md: `redis-cli DEL "aicli:ip:192.168.1.100"` (aicli is the default prefix).
    expect((await run('redis-cli', ['-p', REDIS_PORT, 'DEL', `${config.redis.key_prefix}:ip:${ip}`])).stdout.trim()).toBe('1');
    expect((await get()).status).toBe(401);
  });

  it("the guide's whitelist key, as written, exempts an address", async () => {
    const { base } = await serve({ rate_limit: { per_ip: { requests: 3, window: '1m' } }, security: { trusted_proxies: ['127.0.0.1'] } });
    // A TEST-NET address of this test alone: the bare key is shared by every process on this Redis.
    const ip = `198.51.100.${randomInt(1, 254)}`;
    const get = () => fetch(`${base}/api/v1/workspaces`, { headers: { 'x-forwarded-for': ip } });
    for (let i = 0; i < 3; i++) await get();
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: 'Rate limit exceeded', message: 'IP rate limit exceeded', retry_after: expect.any(Number) });
    await run('redis-cli', ['-p', REDIS_PORT, 'SET', `whitelist:ip:${ip}`, '1', 'EX', '3600']);
    try {
      expect((await get()).status).toBe(401);
    } finally {
      await run('redis-cli', ['-p', REDIS_PORT, 'DEL', `whitelist:ip:${ip}`]);
    }
  });

  it('a user past rate_limit.per_user gets the user 429; `SET user_limit:<id> 2` doubles that user\'s limit', async () => {
    const { base } = await serve({
      auth: { jwt: { secret_key: TEST_JWT_SECRET } },
      rate_limit: { per_ip: { requests: 1000, window: '1m' }, per_user: { requests: 5, window: '1m' } },
    });
    const userId = await env.user('busy@example.com');
    const token = await env.token('busy@example.com');
    const get = () => fetch(`${base}/api/v1/workspaces`, { headers: { authorization: `Bearer ${token}`, 'accept-language': 'ko' } });
    for (let i = 0; i < 5; i++) expect((await get()).status).toBe(200);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: '요청 한도 초과', message: '사용자 요청 한도를 초과했습니다', retry_after: expect.any(Number) });
    await run('redis-cli', ['-p', REDIS_PORT, 'SET', `${env.config.redis.key_prefix}:user_limit:${userId}`, '2', 'EX', '3600']);
    const after: number[] = [];
    for (let i = 0; i < 6; i++) after.push((await get()).status);
    expect(after).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
