import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, identityEnv, PASSWORD, type IdentityEnv } from '../api/identity-support.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { apiUrl } from './seed-support.js';

// Guide section 9, "보안 관련 문제": the security headers of the guide's middleware, on a real API process,
// and the session cookie rules (Secure, HttpOnly, SameSite=Strict), a planted session id that a login does
// not adopt (fixation), and a sign-out that ends the session (regeneration).
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy': "default-src 'self'",
  'referrer-policy': 'strict-origin-when-cross-origin',
};

describe('1. 보안 헤더 누락', () => {
  let db: TestDatabase;
  let api: CliProcess;
  let base = '';
  beforeAll(async () => {
    db = await createTestDatabase('seedsec');
    api = spawnCli(['api'], testEnv(testId('seedsec'), db.url, { PORT: '0' }));
    base = await apiUrl(api);
  });
  afterAll(async () => {
    await api?.stop('SIGTERM');
    await db?.drop();
  });

  it("every answer of the API carries the guide's six headers with its values: success, 401, 404, a preflight", async () => {
    for (const [path, init] of [
      ['/healthz', {}],
      ['/api/v1/tasks', {}],
      ['/nowhere', {}],
      ['/api/v1/workspaces', { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' } }],
    ] as const) {
      const res = await fetch(base + path, init);
      await res.arrayBuffer();
      expect(Object.fromEntries(Object.keys(SECURITY_HEADERS).map((h) => [h, res.headers.get(h)])), path).toEqual(SECURITY_HEADERS);
    }
  });
});

describe('2. 세션 보안 문제', () => {
  let env: IdentityEnv;
  beforeAll(async () => {
    env = await identityEnv('seedsession');
    await env.user('alice@example.com');
  });
  afterAll(async () => {
    await env?.close();
  });

  const cookiesOf = (res: { headers: Headers }) => res.headers.getSetCookie();
  const value = (cookies: string[], name: string) => cookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0]?.slice(name.length + 1);

  it('the browser session cookies are Secure, HttpOnly and SameSite=Strict; a planted session id is not adopted; sign-out ends it', async () => {
    // Session fixation: the attacker plants a session cookie of its choosing before the victim signs in.
    const planted = '__Host-aicli_session=attacker-chosen-value';
    const signIn = await env.t.app.request('/api/v1/auth/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: planted },
      body: JSON.stringify({ email: 'alice@example.com', password: PASSWORD }),
    });
    expect(signIn.status).toBe(200);
    const cookies = cookiesOf(signIn);
    const session = cookies.find((c) => c.startsWith('__Host-aicli_session='));
    expect(session).toMatch(/; Path=\//);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; SameSite=Strict/);
    const refresh = cookies.find((c) => c.startsWith('refresh_token='));
    expect(refresh).toMatch(/; HttpOnly/);
    expect(refresh).toMatch(/; Secure/);
    expect(refresh).toMatch(/; SameSite=Strict/);
    // The session is a new one (regenerated at login), not the planted value; the planted one opens nothing.
    const sessionValue = value(cookies, '__Host-aicli_session') as string;
    const csrf = value(cookies, '__Host-aicli_csrf') as string;
    expect(sessionValue).not.toBe('attacker-chosen-value');
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { headers: { cookie: planted } })).status).toBe(401);
    const jar = `__Host-aicli_session=${sessionValue}; __Host-aicli_csrf=${csrf}; refresh_token=${value(cookies, 'refresh_token')}`;
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { headers: { cookie: jar } })).json.email).toBe('alice@example.com');

    // CSRF: a cookie-authenticated write without the token is refused.
    const forged = await call(env.t, 'POST', '/api/v1/workspaces', { headers: { cookie: jar }, body: { name: 'csrf' } });
    expect(forged.status).toBe(403);
    expect(forged.json.message).toMatch(/X-CSRF-Token/);

    // Sign-out ends the login: the old cookie is worth nothing afterwards.
    const out = await call(env.t, 'DELETE', '/api/v1/auth/session', { headers: { cookie: jar, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { headers: { cookie: jar } })).status).toBe(401);
  });
});
