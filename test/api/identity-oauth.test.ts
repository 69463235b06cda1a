import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig } from '../support/config.js';
import { startOAuthProvider, type OAuthProvider } from '../support/oauth-provider.js';
import { REDIS_URL } from '../support/services.js';
import { call, identityEnv, type IdentityEnv, type Res } from './identity-support.js';

let env: IdentityEnv;
let github: OAuthProvider;
let google: OAuthProvider;
let redis: Redis;

beforeAll(async () => {
  github = await startOAuthProvider('github', { subject: '4242', email: 'octo@example.com', verified: true });
  google = await startOAuthProvider('google', { subject: 'g-1', email: 'existing@example.com', verified: true });
  env = await identityEnv('idoauth', { oauth2: { github: github.config(), google: google.config() } });
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  await env?.close();
  await Promise.all([github?.close(), google?.close()]);
  redis?.disconnect();
});

interface Started {
  authorizeUrl: URL;
  cookie: string;
  state: string;
}

async function start(app: TestApp, provider: string): Promise<Started> {
  const res = await app.app.request(`/api/v1/auth/oauth/${provider}`);
  expect(res.status, await res.clone().text()).toBe(302);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  expect(cookie).toMatch(/^aicli_oauth_state=/);
  const authorizeUrl = new URL(res.headers.get('location') as string);
  return { authorizeUrl, cookie, state: authorizeUrl.searchParams.get('state') as string };
}

/** The browser at the provider: it logs the account in and is sent back with a code. */
async function authorize(s: Started): Promise<URL> {
  const res = await fetch(s.authorizeUrl, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') as string);
}

const back = (app: TestApp, url: URL, cookie: string): Promise<Res> => call(app, 'GET', url.pathname + url.search, { headers: { cookie } });

async function fullLogin(app: TestApp, provider: string): Promise<Res> {
  const s = await start(app, provider);
  return back(app, await authorize(s), s.cookie);
}

describe('OAuth2 login against a loopback provider', () => {
  it('redirects with state and an S256 PKCE challenge, keeping the state in Redis with a TTL', async () => {
    const s = await start(env.t, 'github');
    expect(`${s.authorizeUrl.origin}${s.authorizeUrl.pathname}`).toBe(`${github.url}/authorize`);
    const q = s.authorizeUrl.searchParams;
    expect(q.get('client_id')).toBe(github.clientId);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(q.get('redirect_uri')).toMatch(/\/auth\/callback\/github$/);
    expect(q.get('scope')).toBe('read:user user:email');
    expect(s.cookie).toBe(`aicli_oauth_state=${s.state}`);
    const ttl = await redis.pttl(`${env.config.redis.key_prefix}:oauth:state:${s.state}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(env.config.oauth2.state_ttl);
  });

  it('a first GitHub login creates the user; the next one finds it by the linked identity', async () => {
    const first = await fullLogin(env.t, 'github');
    expect(first.status, first.text).toBe(200);
    expect(Object.keys(first.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(first.headers.get('set-cookie')).toMatch(/refresh_token=rt_[^;]+;.*HttpOnly/);
    const me = await call(env.t, 'GET', '/api/v1/auth/me', { token: first.json.access_token });
    expect(me.json).toMatchObject({ email: 'octo@example.com', role: 'user' });
    const [identity] = await env.db.sql`select user_id, email from user_identities where provider = 'github' and subject = '4242'`;
    expect(identity).toEqual({ user_id: me.json.id, email: 'octo@example.com' });
    const [user] = await env.db.sql`select password_hash from users where id = ${me.json.id}`;
    expect(user?.password_hash).toBeNull();

    const again = await fullLogin(env.t, 'github');
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { token: again.json.access_token })).json.id).toBe(me.json.id);
    const logins = await env.db.sql`select details from audit_log where action = 'login' and actor_id = ${me.json.id} order by id`;
    expect(logins.map((l) => l.details.account)).toEqual(['created', 'existing']);
  });

  it('a Google login links to the existing user with the same verified email', async () => {
    const existingId = await env.user('existing@example.com');
    const res = await fullLogin(env.t, 'google');
    expect(res.status, res.text).toBe(200);
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { token: res.json.access_token })).json.id).toBe(existingId);
    expect((await env.db.sql`select count(*)::int as n from users where lower(email) = 'existing@example.com'`)[0]?.n).toBe(1);
  });

  it('an unverified email neither links nor creates', async () => {
    google.account = { subject: 'g-2', email: 'octo@example.com', verified: false };
    try {
      const res = await fullLogin(env.t, 'google');
      expect(res.status).toBe(403);
      expect(res.json.error).toBe('oauth2: unverified_email');
      expect((await env.db.sql`select count(*)::int as n from user_identities where subject = 'g-2'`)[0]?.n).toBe(0);
    } finally {
      google.account = { subject: 'g-1', email: 'existing@example.com', verified: true };
    }
  });

  it('a wrong state fails clearly: not this browser\'s, forged, or already used', async () => {
    const s = await start(env.t, 'github');
    const url = await authorize(s);
    const other = await start(env.t, 'github');
    const mismatch = await back(env.t, url, other.cookie);
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toEqual({ error: 'oauth2: invalid_state', message: expect.stringMatching(/does not match this browser's login/) });

    const forged = new URL(url);
    forged.searchParams.set('state', 'forged-state');
    const unknown = await back(env.t, forged, 'aicli_oauth_state=forged-state');
    expect(unknown.json).toEqual({ error: 'oauth2: invalid_state', message: expect.stringMatching(/unknown, expired or already used/) });

    expect((await back(env.t, url, s.cookie)).status).toBe(200);
    const replay = await back(env.t, url, s.cookie);
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('oauth2: invalid_state');
    const missing = await call(env.t, 'GET', '/auth/callback/github?code=x', { headers: { cookie: s.cookie } });
    expect(missing.json.error).toBe('oauth2: invalid_state');
  });

  for (const provider of ['github', 'google'] as const) {
    it(`a replayed code fails with oauth2: invalid_grant (${provider})`, async () => {
      const s1 = await start(env.t, provider);
      const used = await authorize(s1);
      expect((await back(env.t, used, s1.cookie)).status).toBe(200);
      // A fresh login (valid state and cookie) carrying the code that was already spent.
      const s2 = await start(env.t, provider);
      const replay = new URL(used);
      replay.searchParams.set('state', s2.state);
      const res = await back(env.t, replay, s2.cookie);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'oauth2: invalid_grant', message: 'the authorization code is invalid, expired or already used: start the login again' });
      const p = provider === 'github' ? github : google;
      expect(p.tokenRequests.at(-1)?.outcome).toBe('code already used');
    });
  }

  for (const provider of ['github', 'google'] as const) {
    it(`a bad client secret gives the oauth2: invalid_client of docs/troubleshooting.ko.md (${provider})`, async () => {
      const p = provider === 'github' ? github : google;
      const app = buildTestApp(testConfig(env.id, env.db.url, { oauth2: { [provider]: { ...p.config(), client_secret: 'not-the-secret' } } }), env.db.sql);
      try {
        const res = await fullLogin(app, provider);
        expect(res.status).toBe(401);
        expect(res.json).toEqual({ error: 'oauth2: invalid_client', message: 'Invalid client credentials' });
        expect(p.tokenRequests.at(-1)?.outcome).toBe('bad client credentials');
      } finally {
        await app.close();
      }
    });
  }

  it('an unconfigured or unknown provider is a 404 naming the keys; the provider\'s own error is passed on', async () => {
    const app = buildTestApp(testConfig(env.id, env.db.url), env.db.sql);
    try {
      const off = await call(app, 'GET', '/api/v1/auth/oauth/github');
      expect(off.status).toBe(404);
      expect(off.json).toEqual({ error: 'oauth2: provider_disabled', message: expect.stringMatching(/set oauth2\.github\.client_id and client_secret/) });
    } finally {
      await app.close();
    }
    expect((await call(env.t, 'GET', '/api/v1/auth/oauth/myspace')).json.error).toBe('oauth2: unknown_provider');
    const s = await start(env.t, 'github');
    const denied = await call(env.t, 'GET', `/auth/callback/github?error=access_denied&error_description=user+said+no&state=${s.state}`, { headers: { cookie: s.cookie } });
    expect(denied.status).toBe(400);
    expect(denied.json).toEqual({ error: 'oauth2: access_denied', message: 'github did not log you in: user said no' });
  });

  it('with oauth2.success_redirect_url the browser is sent there with the refresh cookie', async () => {
    const app = buildTestApp(
      testConfig(env.id, env.db.url, { oauth2: { github: github.config(), success_redirect_url: 'https://app.example.com/after-login' } }),
      env.db.sql,
    );
    try {
      const res = await fullLogin(app, 'github');
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('https://app.example.com/after-login');
      expect(res.headers.get('set-cookie')).toMatch(/refresh_token=rt_.*HttpOnly.*SameSite=Strict/);
    } finally {
      await app.close();
    }
  });
});
