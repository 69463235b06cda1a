import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docsPage } from '../../src/api/openapi/routes.js';
import { listen } from '../../src/api/server.js';
import { clientIpResolver } from '../../src/auth/client-ip.js';
import { configSchema } from '../../src/config/index.js';
import { call, identityEnv, type IdentityEnv, type Res } from './identity-support.js';

let env: IdentityEnv;
let token = '';
const ALLOWED = 'http://localhost:3000';

/** The list in docs/troubleshooting.ko.md, with the values it shows. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy': "default-src 'self'",
  'referrer-policy': 'strict-origin-when-cross-origin',
};

const securityHeadersOf = (res: { headers: Headers }) => Object.fromEntries(Object.keys(SECURITY_HEADERS).map((h) => [h, res.headers.get(h)]));

beforeAll(async () => {
  env = await identityEnv('idhttp', {
    security: { cors: { allowed_origins: [ALLOWED, 'https://yourdomain.com'] } },
    server: { body_limit_bytes: 1024 },
  });
  await env.user('alice@example.com');
  await env.user('viewer@example.com', 'viewer');
  token = await env.token('alice@example.com');
});

afterAll(async () => {
  await env?.close();
});

const preflight = (origin: string, method = 'POST', headers = 'content-type,authorization') =>
  call(env.t, 'OPTIONS', '/api/v1/workspaces', { headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

describe('CORS from security.cors', () => {
  it('a preflight from an allowed origin succeeds with the configured methods and headers', async () => {
    const res = await preflight(ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe('Content-Type, Authorization, X-Requested-With, X-API-Key, Idempotency-Key, Last-Event-ID');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('a preflight from another origin gets no allow header (and a message naming the key)', async () => {
    const res = await preflight('http://evil.example.com');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/security\.cors\.allowed_origins/);
  });

  it('actual requests: the allowed origin may read the answer (and its rate-limit headers), another may not', async () => {
    const ok = await call(env.t, 'GET', '/api/v1/workspaces', { token, headers: { origin: ALLOWED } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/RateLimit-Remaining/);
    const denied = await call(env.t, 'GET', '/api/v1/workspaces', { token, headers: { origin: 'http://evil.example.com' } });
    expect(denied.status).toBe(200);
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    // Errors carry CORS headers too, so the page can read why it failed.
    const unauth = await call(env.t, 'GET', '/api/v1/workspaces', { headers: { origin: ALLOWED } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });
});

describe('security headers', () => {
  it('are on every response: success, errors, 404, redirects, preflights, docs', async () => {
    const responses: Array<[string, Promise<Res>]> = [
      ['health', call(env.t, 'GET', '/healthz')],
      ['login', call(env.t, 'POST', '/api/v1/auth/login', { body: { email: 'alice@example.com', password: 'correct horse battery' } })],
      ['401', call(env.t, 'GET', '/api/v1/tasks')],
      ['403', call(env.t, 'POST', '/api/v1/workspaces', { token: await env.token('viewer@example.com'), body: { name: 'x' } })],
      ['404 route', call(env.t, 'GET', '/nowhere')],
      ['404 id', call(env.t, 'GET', '/api/v1/workspaces/00000000-0000-4000-8000-000000000000', { token })],
      ['413', call(env.t, 'POST', '/api/v1/workspaces', { token, body: { name: 'x'.repeat(5000) } })],
      ['400', call(env.t, 'POST', '/api/v1/workspaces', { token, raw: '{' })],
      ['preflight', preflight(ALLOWED)],
      ['preflight refused', preflight('http://evil.example.com')],
      ['openapi', call(env.t, 'GET', '/openapi.json')],
      ['oauth disabled', call(env.t, 'GET', '/api/v1/auth/oauth/github')],
      ['callback', call(env.t, 'GET', '/auth/callback/google')],
    ];
    const statuses: number[] = [];
    for (const [name, pending] of responses) {
      const res = await pending;
      statuses.push(res.status);
      expect(securityHeadersOf(res), name).toEqual(SECURITY_HEADERS);
    }
    expect(statuses).toEqual([200, 200, 401, 403, 404, 404, 413, 400, 204, 403, 200, 404, 404]);
  });
});

describe('response headers over HTTP', () => {
  // Over a socket these headers go straight onto Node's response (setResponseHeader in src/net/node-http.ts), not through
  // the route's Response as they do in process; both paths must give every response the same headers.
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = await listen(env.t.app, { ...env.config.server, host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  const send = async (method: string, path: string, opts: { token?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: opts.body });
    await res.arrayBuffer();
    return res;
  };

  it('security headers, a request id and the per-IP RateLimit-* headers are on every response; a route\'s own CSP wins', async () => {
    const cases: Array<[string, number, Promise<Response>]> = [
      ['health', 200, send('GET', '/healthz')],
      ['list', 200, send('GET', '/api/v1/workspaces', { token })],
      ['401', 401, send('GET', '/api/v1/tasks')],
      ['404 route', 404, send('GET', '/nowhere')],
      ['404 id', 404, send('GET', '/api/v1/workspaces/00000000-0000-4000-8000-000000000000', { token })],
      ['413', 413, send('POST', '/api/v1/workspaces', { token, body: JSON.stringify({ name: 'x'.repeat(5000) }) })],
      ['400', 400, send('POST', '/api/v1/workspaces', { token, body: '{' })],
      ['preflight', 204, send('OPTIONS', '/api/v1/workspaces', { headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } })],
    ];
    const ids = new Set<string>();
    for (const [name, status, pending] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
      expect(securityHeadersOf(res), name).toEqual(SECURITY_HEADERS);
      // Preflights are answered by CORS before the request log, which gives the id.
      if (name === 'preflight') continue;
      const id = res.headers.get('x-request-id') ?? '';
      expect(id, name).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(id);
      if (name !== 'health' && name !== '404 route') {
        expect(Number(res.headers.get('ratelimit-remaining')), name).toBeGreaterThan(0);
        expect(res.headers.get('ratelimit-limit'), name).toBe(String(env.config.rate_limit.per_ip.requests));
        expect(res.headers.get('ratelimit-policy'), name).toMatch(/^\d+;w=\d+$/);
      }
    }
    expect(ids.size).toBe(cases.length - 1);

    // The docs page sets a policy of its own (it loads Swagger UI); the configured one does not replace it.
    const docs = await send('GET', '/docs');
    expect(docs.headers.get('content-security-policy')).toBe(docsPage().csp);
    expect(docs.headers.get('content-security-policy')).not.toBe(SECURITY_HEADERS['content-security-policy']);
    expect(docs.headers.get('x-frame-options')).toBe('DENY');

    // A caller's request id is echoed, one header, not two.
    const mine = await send('GET', '/healthz', { headers: { 'x-request-id': 'trace-42' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-42');
  });
});

describe('per-user rate limit (in process; the per-IP limit is tested over sockets in identity-rate-limit)', () => {
  it('counts per user, shows RateLimit-* headers, answers the 429 body of docs/troubleshooting.ko.md with Retry-After, and user_limit:<id> scales it', async () => {
    const limited = await identityEnv('idhttprl', { rate_limit: { per_user: { requests: 3, window: '1m' } } });
    try {
      const id = await limited.user('limited@example.com');
      const t = await limited.token('limited@example.com');
      const seen: Res[] = [];
      for (let i = 0; i < 4; i++) seen.push(await call(limited.t, 'GET', '/api/v1/workspaces', { token: t }));
      expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(seen.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['2', '1', '0', '0']);
      expect(seen[0]?.headers.get('ratelimit-limit')).toBe('3');
      expect(seen[0]?.headers.get('ratelimit-policy')).toBe('3;w=60');
      const refused = seen[3] as Res;
      const retry = Number(refused.headers.get('retry-after'));
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60);
      expect(refused.json).toEqual({ error: 'Rate limit exceeded', message: 'user rate limit exceeded', retry_after: retry });
      expect(securityHeadersOf(refused)).toEqual(SECURITY_HEADERS);
      const ko = await call(limited.t, 'GET', '/api/v1/workspaces', { token: t, headers: { 'accept-language': 'ko-KR' } });
      expect(ko.json).toEqual({ error: '요청 한도 초과', message: '사용자 요청 한도를 초과했습니다', retry_after: expect.any(Number) });

      // The remedy in docs/troubleshooting.ko.md for one user: user_limit:<id> multiplies the limit (here under the Redis prefix).
      const r = limited.t.resources.redis;
      await r.set(`${limited.config.redis.key_prefix}:user_limit:${id}`, '10', 'EX', 60);
      const raised = await call(limited.t, 'GET', '/api/v1/workspaces', { token: t });
      expect(raised.status).toBe(200);
      expect(raised.headers.get('ratelimit-limit')).toBe('30');
      // Another user of the same app has a count of their own.
      await limited.user('other@example.com');
      expect((await call(limited.t, 'GET', '/api/v1/workspaces', { token: await limited.token('other@example.com') })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('client address and config checks', () => {
  /** The two things the resolver reads from a request: the socket peer and X-Forwarded-For. */
  const request = (peer: string | undefined, forwarded?: string) =>
    ({ env: peer ? { incoming: { socket: { remoteAddress: peer } } } : undefined, req: { header: () => forwarded } }) as unknown as Context;

  it('believes X-Forwarded-For only from security.trusted_proxies, taking the right-most untrusted hop', () => {
    const direct = clientIpResolver([]);
    expect(direct(request('::ffff:203.0.113.7', '1.2.3.4'))).toBe('203.0.113.7');
    expect(direct(request(undefined))).toBeNull();
    const proxied = clientIpResolver(['10.0.0.0/8', '::1']);
    expect(proxied(request('10.1.2.3', '198.51.100.9, 203.0.113.7, 10.9.9.9'))).toBe('203.0.113.7');
    expect(proxied(request('::1', 'garbage, 198.51.100.9'))).toBe('198.51.100.9');
    expect(proxied(request('192.0.2.1', '1.2.3.4'))).toBe('192.0.2.1');
  });

  it('names the key of a bad whitelist entry or a credentialed wildcard origin', () => {
    const bad = configSchema.safeParse({ rate_limit: { whitelist: ['10.0.0.0/8', 'not-an-ip'] } });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['rate_limit', 'whitelist', 1], message: '"not-an-ip" is not an IP address or CIDR range' });
    expect(configSchema.safeParse({ rate_limit: { whitelist: ['10.0.0.0/33'] } }).success).toBe(false);
    const wildcard = configSchema.safeParse({ security: { cors: { allowed_origins: ['*'] } } });
    expect(wildcard.success).toBe(false);
    expect(wildcard.error?.issues[0]?.path.join('.')).toBe('security.cors.allowed_origins');
    expect(configSchema.parse({ security: { cors: { allowed_origins: '*', allow_credentials: 'false' } } }).security.cors.allowed_origins).toEqual(['*']);
    const roles = configSchema.parse({ rbac: { roles: { user: { permissions: ['task:read:own'] } } } }).rbac.roles;
    expect(Object.keys(roles).sort()).toEqual(['admin', 'user', 'viewer']);
    expect(roles.user?.permissions).toEqual(['task:read:own']);
    expect(configSchema.safeParse({ rbac: { roles: { user: { permissions: ['Workspace Create'] } } } }).success).toBe(false);
  });
});
