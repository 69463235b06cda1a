import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthChange } from '../../src/auth/invalidation.js';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { REDIS_URL } from '../support/services.js';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

/**
 * The in-process identity caches (auth.cache) of two API apps sharing Postgres and Redis, as two API
 * processes would: what one changes through the API, the other stops believing as soon as the change
 * reaches it over Redis; what is changed behind the API's back is seen within auth.cache.ttl; while the
 * change subscription is down nothing is believed from the cache.
 */
let env: IdentityEnv;
let a: TestApp;
let b: TestApp;
let redis: Redis;

/** Resolves when `app` has received a change matching `match` (its own or another process's). */
function changeSeen(app: TestApp, match: (change: AuthChange | 'all') => boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = app.resources.invalidation.onChange((change) => {
      if (!match(change)) return;
      off();
      resolve();
    });
  });
}

const me = (app: TestApp, credentials: { token?: string; apiKey?: string }) => call(app, 'GET', '/api/v1/auth/me', credentials);

beforeAll(async () => {
  env = await identityEnv('idcache');
  a = env.t;
  b = buildTestApp(env.config, env.db.sql);
  redis = new Redis(REDIS_URL);
  await Promise.all([a.resources.invalidation.whenLive(), b.resources.invalidation.whenLive()]);
});

afterAll(async () => {
  await b?.close();
  redis?.disconnect();
  await env?.close();
});

describe('identity caches across two API processes', () => {
  it('a logout on one process: refused there at once, and on the other as soon as the change arrives', async () => {
    await env.user('logout@example.com');
    const login = await env.login('logout@example.com');
    const token = login.json.access_token as string;
    // Both processes have seen (and cached) this token's user and session.
    expect((await me(a, { token })).status).toBe(200);
    expect((await me(b, { token })).status).toBe(200);

    const arrived = changeSeen(b, (c) => c !== 'all' && c.kind === 'session');
    const out = await call(a, 'POST', '/api/v1/auth/logout', { body: { refresh_token: login.json.refresh_token } });
    expect(out.status).toBe(204);
    const onA = await me(a, { token });
    expect(onA.status).toBe(401);
    expect(onA.json.message).toBe('token has been revoked: log in again');
    await arrived;
    expect((await me(b, { token })).json.message).toBe('token has been revoked: log in again');
  });

  it('a revoked API key is refused by the process that revoked it at once, and by the other once told', async () => {
    await env.user('keys@example.com');
    const token = await env.token('keys@example.com');
    const made = await call(a, 'POST', '/api/v1/api-keys', { token, body: { name: 'cached', scopes: ['task:read:own'] } });
    expect(made.status).toBe(201);
    const apiKey = made.json.key as string;
    expect((await me(a, { apiKey })).status).toBe(200);
    expect((await me(b, { apiKey })).status).toBe(200);

    const arrived = changeSeen(b, (c) => c !== 'all' && c.kind === 'api_key' && c.id === made.json.id);
    expect((await call(a, 'DELETE', `/api/v1/api-keys/${made.json.id}`, { token })).status).toBe(204);
    expect((await me(a, { apiKey })).json).toEqual({ error: 'Invalid API key', message: 'API key has been revoked' });
    await arrived;
    expect((await me(b, { apiKey })).json).toEqual({ error: 'Invalid API key', message: 'API key has been revoked' });
  });

  it('a role change by an admin reaches the other process\'s cached permissions', async () => {
    const adminId = await env.user('cache-admin@example.com', 'admin');
    expect(adminId).toBeTruthy();
    const admin = await env.token('cache-admin@example.com');
    const userId = await env.user('promoted@example.com');
    const token = await env.token('promoted@example.com');
    expect((await call(b, 'GET', '/api/v1/admin/users', { token })).status).toBe(403);

    const arrived = changeSeen(b, (c) => c !== 'all' && c.kind === 'user' && c.id === userId);
    expect((await call(a, 'PATCH', `/api/v1/admin/users/${userId}`, { token: admin, body: { role: 'admin' } })).status).toBe(200);
    await arrived;
    expect((await call(b, 'GET', '/api/v1/admin/users', { token })).status).toBe(200);
    expect((await me(b, { token })).json.role).toBe('admin');
  });

  it('while the change subscription is down the cache is not believed, and it starts empty when back', async () => {
    await env.user('outage@example.com');
    const token = await env.token('outage@example.com');
    const made = await call(a, 'POST', '/api/v1/api-keys', { token, body: { name: 'outage', scopes: ['task:read:own'] } });
    const apiKey = made.json.key as string;
    expect((await me(b, { apiKey })).status).toBe(200);

    // Cut this file's subscriber connections (a's and b's) from the Redis side, as a network fault would.
    const emptied = changeSeen(b, (c) => c === 'all');
    const name = `aicli-api-events:${env.config.redis.key_prefix}`;
    const ids = String(await redis.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => /^id=(\d+) /.exec(line)?.[1] as string);
    expect(ids).toHaveLength(2);
    for (const id of ids) await redis.client('KILL', 'ID', id);
    await emptied;
    expect(b.resources.invalidation.live).toBe(false);
    // Revoked behind the API's back (no change is published): b reads Postgres, so it refuses at once.
    await env.db.sql`update api_keys set revoked_at = now() where id = ${made.json.id}`;
    expect((await me(b, { apiKey })).json.message).toBe('API key has been revoked');

    await b.resources.invalidation.whenLive();
    await a.resources.invalidation.whenLive();
    expect((await me(b, { apiKey })).json.message).toBe('API key has been revoked');
  });
});

describe('auth.cache.ttl', () => {
  /**
   * In an app of its own with `ttl`: a user seen once, then demoted behind the API's back as the remedy in
   * docs/troubleshooting.ko.md does it (change the row, clear the Redis RBAC cache). Answers how `me` sees the role right after.
   */
  async function demoteBehindTheApi(label: string, ttl: string | number, then: (seen: () => Promise<string>, ttlMs: number) => Promise<void>) {
    const own = await identityEnv(label, { auth: { cache: { ttl } } });
    try {
      await own.t.resources.invalidation.whenLive();
      const userId = await own.user(`${label}@example.com`);
      const token = await own.token(`${label}@example.com`);
      const seen = async () => (await me(own.t, { token })).json.role as string;
      expect(await seen()).toBe('user');
      await own.db.sql`update users set role = 'viewer' where id = ${userId}`;
      await redis.del(`${own.config.redis.key_prefix}:rbac:user:${userId}`);
      await then(seen, own.config.auth.cache.ttl);
    } finally {
      await own.close();
    }
  }

  it('0 turns the cache off: a change behind the API\'s back is seen by the next request', async () => {
    await demoteBehindTheApi('idcachettl', 0, async (seen) => {
      expect(await seen()).toBe('viewer');
    });
  });

  it('bounds how long a change behind the API\'s back goes unseen', async () => {
    // The wait is the behaviour under test (time-based expiry), not synchronisation.
    await demoteBehindTheApi('idcachettl2', '1s', async (seen, ttlMs) => {
      expect(await seen()).toBe('user');
      await new Promise((resolve) => setTimeout(resolve, ttlMs));
      expect(await seen()).toBe('viewer');
    });
  });
});
