import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

let env: IdentityEnv;
let alice = '';
let aliceId = '';
let viewer = '';

const SEED_403 = (permission: string) => ({ error: 'Insufficient permissions', message: `User does not have required permission: ${permission}` });

beforeAll(async () => {
  env = await identityEnv('idkeys');
  aliceId = await env.user('alice@example.com');
  await env.user('bob@example.com');
  await env.user('viewer@example.com', 'viewer');
  alice = await env.token('alice@example.com');
  viewer = await env.token('viewer@example.com');
});

afterAll(async () => {
  await env?.close();
});

const createKey = (token: string, body: unknown) => call(env.t, 'POST', '/api/v1/api-keys', { token, body });

describe('API keys', () => {
  it('are shown once with a recognisable prefix, stored only as SHA-256, and listed without the key', async () => {
    const res = await createKey(alice, { name: 'ci' });
    expect(res.status).toBe(201);
    expect(res.json.key).toMatch(/^aicli_[\w-]{43}$/);
    expect(res.json).toMatchObject({ name: 'ci', scopes: ['*'], prefix: res.json.key.slice(0, 12), last_used_at: null, revoked_at: null });
    const [row] = await env.db.sql`select key_hash, key_prefix from api_keys where id = ${res.json.id}`;
    expect(row?.key_hash).toBe(createHash('sha256').update(res.json.key).digest('hex'));
    const stored = JSON.stringify(await env.db.sql`select * from api_keys where id = ${res.json.id}`);
    expect(stored).not.toContain(res.json.key);
    const list = await call(env.t, 'GET', '/api/v1/api-keys', { token: alice });
    expect(list.status).toBe(200);
    const listed = list.json.items.find((k: any) => k.id === res.json.id);
    expect(listed).toMatchObject({ name: 'ci', prefix: row?.key_prefix });
    expect(listed).not.toHaveProperty('key');
    expect(list.text).not.toContain(res.json.key);
  });

  it('authenticate as Authorization: Bearer and as X-API-Key, and record the last use', async () => {
    const key = (await createKey(alice, { name: 'both headers' })).json;
    const bearer = await call(env.t, 'GET', '/api/v1/workspaces', { token: key.key });
    expect(bearer.status).toBe(200);
    const header = await call(env.t, 'GET', '/api/v1/auth/me', { apiKey: key.key });
    expect(header.json).toMatchObject({ id: aliceId, auth: 'api_key', api_key_id: key.id });
    await expect
      .poll(async () => (await env.db.sql`select last_used_at from api_keys where id = ${key.id}`)[0]?.last_used_at, { timeout: 5000 })
      .toBeInstanceOf(Date);
  });

  it('a key with a narrower scope cannot do what its scope lacks (the 403 of docs/troubleshooting.ko.md)', async () => {
    const key = (await createKey(alice, { name: 'read only', scopes: ['workspace:read:own', 'task:read:own'] })).json;
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: key.key })).status).toBe(200);
    const before = await env.db.sql`select count(*)::int as n from workspaces`;
    const denied = await call(env.t, 'POST', '/api/v1/workspaces', { apiKey: key.key, body: { name: 'nope' } });
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual(SEED_403('workspace:create'));
    expect(await env.db.sql`select count(*)::int as n from workspaces`).toEqual(before);
    const keys = await call(env.t, 'POST', '/api/v1/api-keys', { apiKey: key.key, body: { name: 'child' } });
    expect(keys.json).toEqual(SEED_403('api_key:create'));
    // The same user's access token can.
    expect((await call(env.t, 'POST', '/api/v1/workspaces', { token: alice, body: { name: 'yes' } })).status).toBe(201);
    expect((await call(env.t, 'GET', '/api/v1/auth/me', { apiKey: key.key })).json.permissions).toEqual(['workspace:read:own', 'task:read:own']);
  });

  it('scopes can only narrow: nothing beyond the role, and a key made by a key gets no more than it has', async () => {
    const tooMuch = await createKey(viewer, { name: 'escalate', scopes: ['workspace:create'] });
    expect(tooMuch.status).toBe(403);
    expect(tooMuch.json).toEqual(SEED_403('workspace:create'));
    expect((await createKey(alice, { name: 'admin please', scopes: ['user:manage'] })).json).toEqual(SEED_403('user:manage'));
    expect((await createKey(alice, { name: 'wildcard', scopes: ['workspace:*'] })).json).toEqual(SEED_403('workspace:*'));

    const parent = (await createKey(alice, { name: 'parent', scopes: ['api_key:create', 'workspace:read:own'] })).json;
    const child = await call(env.t, 'POST', '/api/v1/api-keys', { apiKey: parent.key, body: { name: 'child' } });
    expect(child.status).toBe(201);
    expect(child.json.scopes).toEqual(['api_key:create', 'workspace:read:own']);
    const grandchild = await call(env.t, 'POST', '/api/v1/api-keys', { apiKey: parent.key, body: { name: 'x', scopes: ['task:create'] } });
    expect(grandchild.json).toEqual(SEED_403('task:create'));
  });

  it('a revoked key is refused at once; another tenant cannot revoke it (404)', async () => {
    const key = (await createKey(alice, { name: 'short lived' })).json;
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: key.key })).status).toBe(200);
    const bob = await env.token('bob@example.com');
    expect((await call(env.t, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: bob })).status).toBe(404);
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: key.key })).status).toBe(200);

    expect((await call(env.t, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: alice })).status).toBe(204);
    const refused = await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: key.key });
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ error: 'Invalid API key', message: 'API key has been revoked' });
    expect((await call(env.t, 'DELETE', `/api/v1/api-keys/${key.id}`, { token: alice })).status).toBe(404);
    const listed = await call(env.t, 'GET', '/api/v1/api-keys?include_revoked=true', { token: alice });
    expect(listed.json.items.find((k: any) => k.id === key.id).revoked_at).not.toBeNull();
    const actions = await env.db.sql`select action from audit_log where target_id = ${key.id} order by id`;
    expect(actions.map((a) => a.action)).toEqual(['api_key_created', 'api_key_revoked']);
  });

  it('unknown and expired keys are refused; a key of a disabled user is refused', async () => {
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: 'aicli_not-a-real-key' })).json.message).toBe('API key is invalid');
    const soon = new Date(Date.now() + 60_000).toISOString();
    const key = (await createKey(alice, { name: 'expiring', expires_at: soon })).json;
    await env.db.sql`update api_keys set expires_at = now() - interval '1 second' where id = ${key.id}`;
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: key.key })).json.message).toBe('API key is expired');
    expect((await createKey(alice, { name: 'past', expires_at: new Date(Date.now() - 1000).toISOString() })).status).toBe(422);

    const carolId = await env.user('carol@example.com');
    const carolKey = (await createKey(await env.token('carol@example.com'), { name: 'c' })).json;
    await env.db.sql`update users set disabled = true where id = ${carolId}`;
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { apiKey: carolKey.key })).json.message).toMatch(/disabled/);
  });
});
