import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { call, identityEnv, PASSWORD, type IdentityEnv } from '../api/identity-support.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, TEST_JWT_SECRET } from '../support/config.js';
import { startOAuthProvider, type OAuthProvider } from '../support/oauth-provider.js';
import { REDIS_URL } from '../support/services.js';
import { scratchDir, writeFile } from './seed-support.js';

// Guide section 2, "인증 및 권한 문제": a token the server refuses (another secret, expired, malformed), an
// OAuth2 login the provider refuses (invalid_client, from a loopback provider speaking Google's dialect) and a
// missing permission; each with our body, then the guide's remedy and the recovery.
const run = promisify(execFile);
let env: IdentityEnv;
let google: OAuthProvider;
let dir = '';
const apps: TestApp[] = [];

beforeAll(async () => {
  env = await identityEnv('seedauth');
  google = await startOAuthProvider('google', { subject: 'g-42', email: 'oauth@example.com', verified: true });
  dir = scratchDir('auth');
  await env.user('alice@example.com');
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await env?.close();
  await google?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Another API process on the same database and Redis prefix, with config overrides. */
function app(overrides: Parameters<typeof testConfig>[2]): TestApp {
  const t = buildTestApp(testConfig(env.id, env.db.url, overrides), env.db.sql);
  apps.push(t);
  return t;
}

const me = (t: TestApp, token: string) => call(t, 'GET', '/api/v1/auth/me', { token });

describe('1. JWT 토큰 검증 실패: {"error": "Invalid token", "message": "token signature is invalid"}', () => {
  it('a token from a process with another JWT secret is refused with the guide\'s body; one shared secret is the fix', async () => {
    const other = app({ auth: { jwt: { secret_key: 'another-secret-another-secret-another-secret' } } });
    await createTestUser(env.db.sql, 'bob@example.com');
    const login = await call(other, 'POST', '/api/v1/auth/login', { body: { email: 'bob@example.com', password: PASSWORD } });
    expect(login.status).toBe(200);
    const refused = await me(env.t, login.json.access_token);
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ error: 'Invalid token', message: 'token signature is invalid' });
    // The remedy: every process gets the same auth.jwt.secret_key (JWT_SECRET_KEY).
    const same = app({});
    const again = await call(other, 'POST', '/api/v1/auth/login', { body: { email: 'bob@example.com', password: PASSWORD } });
    expect((await me(other, again.json.access_token)).status).toBe(200);
    const ours = await call(same, 'POST', '/api/v1/auth/login', { body: { email: 'bob@example.com', password: PASSWORD } });
    expect((await me(env.t, ours.json.access_token)).status).toBe(200);
  });

  it('an expired token says so; the guide\'s refresh call with the refresh token gets a working pair', async () => {
    const short = app({ auth: { jwt: { secret_key: TEST_JWT_SECRET, access_token_ttl: '1s', clock_tolerance: '0s' } } });
    const pair = (await call(short, 'POST', '/api/v1/auth/login', { body: { email: 'alice@example.com', password: PASSWORD } })).json;
    const first = await me(short, pair.access_token);
    expect(first.status, first.text).toBe(200);
    // Past its exp (auth.jwt.clock_tolerance 0s here; 5s by default).
    await expect.poll(async () => (await me(short, pair.access_token)).json.message, { timeout: 15_000, interval: 500 }).toBe('token is expired');
    // `curl -X POST .../auth/refresh -H "Authorization: Bearer <old_token>"`: the old *access* token is not enough...
    const withAccess = await call(short, 'POST', '/api/v1/auth/refresh', { token: pair.access_token, headers: { 'content-type': 'application/json' } });
    expect(withAccess.status).toBe(401);
    expect(withAccess.json.message).toMatch(/this is an access token: send the refresh token/);
    // ...the refresh token in the same header is.
    const fresh = await call(short, 'POST', '/api/v1/auth/refresh', { token: pair.refresh_token, headers: { 'content-type': 'application/json' } });
    expect(fresh.status).toBe(200);
    expect((await me(short, fresh.json.access_token)).json.email).toBe('alice@example.com');
  });

  it('a malformed token or header names what is wrong; the documented claim dump reads exp and sub', async () => {
    expect((await me(env.t, 'not-a-jwt')).json).toEqual({ error: 'Invalid token', message: 'token is malformed' });
    const noBearer = await call(env.t, 'GET', '/api/v1/auth/me', { headers: { authorization: 'Token abc' } });
    expect(noBearer.status).toBe(401);
    expect(noBearer.json.message).toMatch(/Bearer/);
    // docs/troubleshooting.md: the Node one-liner in place of the guide's Go debugToken().
    const token = await env.token('alice@example.com');
    const { stdout } = await run(process.execPath, ['-e', 'console.log(JSON.stringify(JSON.parse(Buffer.from(process.argv[1].split(".")[1], "base64url"))))', token]);
    const claims = JSON.parse(stdout) as { exp: number; sub: string };
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect((await me(env.t, token)).json.id).toBe(claims.sub);
  });
});

describe('2. OAuth2 인증 실패: {"error": "oauth2: invalid_client", "message": "Invalid client credentials"}', () => {
  /** The browser's round trip: our redirect, the provider's login, the callback. */
  async function login(t: TestApp) {
    const startRes = await t.app.request('/api/v1/auth/oauth/google');
    expect(startRes.status).toBe(302);
    const cookie = (startRes.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const atProvider = await fetch(startRes.headers.get('location') as string, { redirect: 'manual' });
    const back = new URL(atProvider.headers.get('location') as string);
    return call(t, 'GET', back.pathname + back.search, { headers: { cookie } });
  }

  it("a wrong client secret gives the guide's body and a log line `grep -i oauth app.log` finds; the right one logs in", async () => {
    const logFile = path.join(dir, 'app.log');
    // The guide's oauth2.google block (client id and secret of the loopback provider, the provider's URLs added).
    const guide = (secret: string) => ({ google: { ...google.config(), client_secret: secret, redirect_url: 'http://127.0.0.1/auth/callback/google' } });
    const wrong = app({ oauth2: guide('your-google-client-secret'), logging: { level: 'info', output: 'file', file_path: logFile } });
    const res = await login(wrong);
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'oauth2: invalid_client', message: 'Invalid client credentials' });
    expect(google.tokenRequests.at(-1)?.outcome).toBe('bad client credentials');
    await expect
      .poll(() => readFileSync(logFile, 'utf8').split('\n').filter((l) => /oauth/i.test(l)).join('\n'), { timeout: 5000 })
      .toMatch(/"action":"oauth2_token_refused".*check oauth2\.google\.client_id and oauth2\.google\.client_secret/);

    const right = app({ oauth2: guide(google.clientSecret) });
    const ok = await login(right);
    expect(ok.status, ok.text).toBe(200);
    expect((await me(right, ok.json.access_token)).json.email).toBe('oauth@example.com');
  });

  it("the guide's oauth2.google block loads as it is", () => {
    const cwd = scratchDir('oauth');
    writeFile(
      cwd,
      'config.yml',
      '# config.yml\noauth2:\n  google:\n    client_id: "your-google-client-id.apps.googleusercontent.com"\n    client_secret: "your-google-client-secret"\n    redirect_url: "https://yourdomain.com/auth/callback/google"\n',
    );
    expect(loadConfig({ cwd, env: {} }).config.oauth2.google).toMatchObject({
      client_id: 'your-google-client-id.apps.googleusercontent.com',
      client_secret: 'your-google-client-secret',
      redirect_url: 'https://yourdomain.com/auth/callback/google',
    });
  });
});

describe('3. 권한 부족 오류: User does not have required permission: workspace:create', () => {
  const GUIDE_RBAC = {
    roles: { user: { permissions: ['workspace:create', 'workspace:read:own', 'workspace:update:own'] } },
  };

  it("a role without the permission gets the guide's 403; the guide's rbac block gives it", async () => {
    const narrow = app({ rbac: { roles: { user: { permissions: ['workspace:read:own'] } } } });
    const carol = await createTestUser(env.db.sql, 'carol@example.com');
    const token = (await call(narrow, 'POST', '/api/v1/auth/login', { body: { email: 'carol@example.com', password: PASSWORD } })).json.access_token;
    const denied = await call(narrow, 'POST', '/api/v1/workspaces', { token, body: { name: 'w' } });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({ error: 'Insufficient permissions', message: 'User does not have required permission: workspace:create' });
    expect(await env.db.sql`select 1 from workspaces where owner_id = ${carol.id}`).toHaveLength(0);

    // The guide's SQL shows the role's permissions as the config set them.
    const rows = await env.db.sql`
      SELECT u.email, u.role, ur.role_name, rp.permission
      FROM users u
      JOIN user_roles ur ON u.role = ur.role_name
      JOIN role_permissions rp ON ur.role_name = rp.role_name
      WHERE u.id = ${carol.id}`;
    expect(rows.map((r) => r.permission)).toEqual(['workspace:read:own']);

    const fixed = app({ rbac: GUIDE_RBAC });
    const created = await call(fixed, 'POST', '/api/v1/workspaces', { token, body: { name: 'w' } });
    expect(created.status, created.text).toBe(201);
  });

  it('a role changed behind the API (SQL) waits for the RBAC cache; the documented redis-cli command clears it', async () => {
    const t = app({ auth: { jwt: { secret_key: TEST_JWT_SECRET }, cache: { ttl: '0s' } } });
    const dave = await createTestUser(env.db.sql, 'dave@example.com', PASSWORD, 'viewer');
    const token = (await call(t, 'POST', '/api/v1/auth/login', { body: { email: 'dave@example.com', password: PASSWORD } })).json.access_token;
    expect((await call(t, 'POST', '/api/v1/workspaces', { token, body: { name: 'v' } })).status).toBe(403);
    await env.db.sql`update users set role = 'user' where id = ${dave.id}`;
    // Still cached in Redis for rbac.cache_ttl (60s).
    expect((await call(t, 'POST', '/api/v1/workspaces', { token, body: { name: 'v' } })).status).toBe(403);
    // The guide's `redis-cli DEL "rbac:user:*"` deletes nothing (DEL takes no patterns, and keys carry redis.key_prefix)...
    const port = new URL(REDIS_URL).port || '6379';
    const guide = await run('redis-cli', ['-p', port, 'DEL', 'rbac:user:*']);
    expect(guide.stdout.trim()).toBe('0');
    // ...the command docs/troubleshooting.md gives does (here with this test's prefix in place of aicli).
    const prefix = env.config.redis.key_prefix;
    await run('sh', ['-c', `redis-cli -p ${port} --scan --pattern '${prefix}:rbac:*' | xargs -r redis-cli -p ${port} DEL`]);
    const created = await call(t, 'POST', '/api/v1/workspaces', { token, body: { name: 'v' } });
    expect(created.status, created.text).toBe(201);
  });

  it("the guide's rbac block loads as it is and replaces the built-in user role's permissions", () => {
    const cwd = scratchDir('rbac');
    writeFile(
      cwd,
      'config.yml',
      '# config.yml - 역할별 권한 확인\nrbac:\n  roles:\n    user:\n      permissions:\n        - "workspace:create"\n        - "workspace:read:own"\n        - "workspace:update:own"\n',
    );
    expect(loadConfig({ cwd, env: {} }).config.rbac.roles.user?.permissions).toEqual(GUIDE_RBAC.roles.user.permissions);
  });
});
