import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permissionLookup, permissionTable } from '../../src/api/permissions.js';
import { grants } from '../../src/auth/permissions.js';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

let env: IdentityEnv;
let admin = '';
let user = '';
let viewer = '';
let userId = '';
let adminId = '';

const SEED_403 = (permission: string) => ({ error: 'Insufficient permissions', message: `User does not have required permission: ${permission}` });

beforeAll(async () => {
  // A role added in the config (next to the built-in ones), as rbac.roles.<role>.permissions in docs/troubleshooting.ko.md shows.
  env = await identityEnv('idrbac', { rbac: { roles: { auditor: { permissions: ['audit:read', 'workspace:read:any'] } } } });
  adminId = await env.user('admin@example.com', 'admin');
  userId = await env.user('user@example.com');
  await env.user('viewer@example.com', 'viewer');
  admin = await env.token('admin@example.com');
  user = await env.token('user@example.com');
  viewer = await env.token('viewer@example.com');
});

afterAll(async () => {
  await env?.close();
});

describe('permission strings', () => {
  it('match exactly, by wildcard, and :any covers :own', () => {
    expect(grants('workspace:create', 'workspace:create')).toBe(true);
    expect(grants('*', 'admin:queues')).toBe(true);
    expect(grants('workspace:*', 'workspace:read:own')).toBe(true);
    expect(grants('workspace:*:own', 'workspace:read:own')).toBe(true);
    expect(grants('workspace:*:own', 'workspace:read:any')).toBe(false);
    expect(grants('task:read:any', 'task:read:own')).toBe(true);
    expect(grants('task:read:own', 'task:read:any')).toBe(false);
    expect(grants('workspace:read:own', 'workspace:read')).toBe(false);
    expect(grants('admin:queues', 'admin:queues:read')).toBe(false);
  });
});

describe('one middleware enforces the permission table', () => {
  it('a viewer creating a workspace gets exactly the 403 of docs/troubleshooting.ko.md and nothing is written', async () => {
    const res = await call(env.t, 'POST', '/api/v1/workspaces', { token: viewer, body: { name: 'x' } });
    expect(res.status).toBe(403);
    expect(res.json).toEqual(SEED_403('workspace:create'));
    expect((await env.db.sql`select count(*)::int as n from workspaces`)[0]?.n).toBe(0);
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { token: viewer })).status).toBe(200);
    const ko = await call(env.t, 'POST', '/api/v1/workspaces', { token: viewer, body: { name: 'x' }, headers: { 'accept-language': 'ko' } });
    expect(ko.json).toEqual({ error: '권한 부족', message: '사용자에게 필요한 권한이 없습니다: workspace:create' });
  });

  it('every /api route the app serves has a line in the table, and the public ones are exactly the auth entry points', () => {
    const table = permissionTable(env.t.routes);
    const lookup = permissionLookup(table);
    const served = env.t.app.routes.filter((r) => r.path.startsWith('/api/') && r.method !== 'ALL');
    expect(served.length).toBeGreaterThan(20);
    const missing = served.filter((r) => !lookup(r.method, r.path.replace(/:\w+/g, 'x'))).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
    expect(table.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/v1/auth/login',
      'POST /api/v1/auth/refresh',
      'POST /api/v1/auth/logout',
      'GET /api/v1/auth/oauth/:provider',
      // Browser sessions: sign-in, its CSRF token, and the two that check that token themselves.
      'POST /api/v1/auth/session',
      'GET /api/v1/auth/session',
      'POST /api/v1/auth/session/refresh',
      'DELETE /api/v1/auth/session',
    ]);
  });

  it('an /api route without a line is denied, even to an admin; health, docs and the OAuth callback stay reachable', async () => {
    const res = await call(env.t, 'GET', '/api/v1/not-in-the-table', { token: admin });
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/no permission is defined for GET \/api\/v1\/not-in-the-table: access is denied by default/);
    expect((await call(env.t, 'GET', '/api/v1/not-in-the-table')).status).toBe(401);
    expect((await call(env.t, 'GET', '/healthz')).status).toBe(200);
    expect((await call(env.t, 'GET', '/openapi.json')).status).toBe(200);
    expect((await call(env.t, 'GET', '/auth/callback/github')).json.error).toBe('oauth2: provider_disabled');
  });
});

describe('admin endpoints', () => {
  it('are closed to users (user:manage, role:manage, audit:read)', async () => {
    expect((await call(env.t, 'GET', '/api/v1/admin/users', { token: user })).json).toEqual(SEED_403('user:manage'));
    expect((await call(env.t, 'PATCH', `/api/v1/admin/users/${userId}`, { token: user, body: { role: 'admin' } })).json).toEqual(SEED_403('user:manage'));
    expect((await call(env.t, 'GET', '/api/v1/admin/roles', { token: user })).json).toEqual(SEED_403('role:manage'));
    expect((await call(env.t, 'GET', '/api/v1/admin/audit', { token: user })).json).toEqual(SEED_403('audit:read'));
    expect((await env.db.sql`select role from users where id = ${userId}`)[0]?.role).toBe('user');
  });

  it('pages the user list by cursor, with and without a role filter, missing no one created in the same millisecond', async () => {
    // Seven viewers a few microseconds apart in one millisecond, and the users of the other tests.
    await env.db.sql`
      insert into users (email, role, created_at)
      select 'page' || g || '@example.com', 'viewer', timestamptz '2026-06-01 12:00:00.123000+00' + g * interval '50 microseconds'
      from generate_series(1, 7) g`;
    const walk = async (query: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await call(env.t, 'GET', `/api/v1/admin/users?limit=2${query}${cursor ? `&cursor=${cursor}` : ''}`, { token: admin });
        expect(page.status).toBe(200);
        expect(page.json.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.json.items.map((u: { email: string }) => u.email));
        cursor = page.json.next_cursor;
      } while (cursor && seen.length < 1000);
      return seen;
    };
    const all = await env.db.sql<{ email: string }[]>`select email from users where deleted_at is null order by created_at, id`;
    expect(await walk('')).toEqual(all.map((u) => u.email));
    const viewers = (await env.db.sql<{ email: string }[]>`select email from users where deleted_at is null and role = 'viewer' order by created_at, id`).map((u) => u.email);
    expect(viewers.filter((e) => e.startsWith('page'))).toHaveLength(7);
    expect(await walk('&role=viewer')).toEqual(viewers);
    const refused = [
      await call(env.t, 'GET', '/api/v1/admin/users?cursor=zzz', { token: admin }),
      await call(env.t, 'GET', `/api/v1/admin/users?offset=1&cursor=${(await call(env.t, 'GET', '/api/v1/admin/users?limit=1', { token: admin })).json.next_cursor}`, { token: admin }),
      await call(env.t, 'GET', '/api/v1/admin/users?offset=10001', { token: admin }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: expect.any(String), message: expect.stringMatching(/cursor/) });
    }
    // offset still works, for clients of the first version.
    const second = await call(env.t, 'GET', '/api/v1/admin/users?limit=1&offset=1', { token: admin });
    expect(second.json.items.map((u: { email: string }) => u.email)).toEqual([all[1]!.email]);
    await env.db.sql`delete from users where email like 'page%@example.com'`;
  });

  it('list and create users; a role change applies to tokens already issued', async () => {
    const list = await call(env.t, 'GET', '/api/v1/admin/users', { token: admin });
    expect(list.status).toBe(200);
    expect(list.json.items.map((u: any) => u.email)).toEqual(expect.arrayContaining(['admin@example.com', 'user@example.com']));
    expect(JSON.stringify(list.json)).not.toMatch(/password_hash|scrypt/);

    const made = await call(env.t, 'POST', '/api/v1/admin/users', { token: admin, body: { email: 'new@example.com', password: 'long enough pw', role: 'viewer' } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ email: 'new@example.com', role: 'viewer', disabled: false, has_password: true });
    expect((await call(env.t, 'POST', '/api/v1/admin/users', { token: admin, body: { email: 'new@example.com', role: 'viewer' } })).status).toBe(409);
    expect((await call(env.t, 'POST', '/api/v1/admin/users', { token: admin, body: { email: 'x@example.com', role: 'nosuchrole' } })).status).toBe(422);

    const before = await call(env.t, 'POST', '/api/v1/workspaces', { token: user, body: { name: 'mine' } });
    expect(before.status).toBe(201);
    const demote = await call(env.t, 'PATCH', `/api/v1/admin/users/${userId}`, { token: admin, body: { role: 'viewer' } });
    expect(demote.status).toBe(200);
    expect(demote.json.role).toBe('viewer');
    const after = await call(env.t, 'POST', '/api/v1/workspaces', { token: user, body: { name: 'again' } });
    expect(after.json).toEqual(SEED_403('workspace:create'));
    await call(env.t, 'PATCH', `/api/v1/admin/users/${userId}`, { token: admin, body: { role: 'user' } });
    expect((await call(env.t, 'POST', '/api/v1/workspaces', { token: user, body: { name: 'again' } })).status).toBe(201);
  });

  it('refuse to demote or disable the last enabled admin', async () => {
    const res = await call(env.t, 'PATCH', `/api/v1/admin/users/${adminId}`, { token: admin, body: { role: 'user' } });
    expect(res.status).toBe(409);
    expect(res.json.message).toMatch(/last enabled admin/);
    expect((await call(env.t, 'PATCH', `/api/v1/admin/users/${adminId}`, { token: admin, body: { disabled: true } })).status).toBe(409);
    expect((await env.db.sql`select role, disabled from users where id = ${adminId}`)[0]).toEqual({ role: 'admin', disabled: false });
  });

  it('roles: config roles are listed and read-only; API roles are created, used, changed at once, and deleted', async () => {
    const roles = await call(env.t, 'GET', '/api/v1/admin/roles', { token: admin });
    expect(roles.status).toBe(200);
    const byName = Object.fromEntries(roles.json.items.map((r: any) => [r.name, r]));
    expect(byName.auditor).toMatchObject({ source: 'config', permissions: ['audit:read', 'workspace:read:any'] });
    expect(byName.user.permissions).toContain('workspace:create');
    expect((await call(env.t, 'PUT', '/api/v1/admin/roles/user', { token: admin, body: { permissions: ['*'] } })).json.message).toMatch(/rbac\.roles\.user/);

    const created = await call(env.t, 'PUT', '/api/v1/admin/roles/reporter', { token: admin, body: { description: 'reads audit', permissions: ['audit:read'] } });
    expect(created.status).toBe(201);
    const reporterId = await env.user('reporter@example.com', 'reporter');
    const reporter = await env.token('reporter@example.com');
    expect((await call(env.t, 'GET', '/api/v1/admin/audit', { token: reporter })).status).toBe(200);
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { token: reporter })).json).toEqual(SEED_403('workspace:read:own'));

    const changed = await call(env.t, 'PUT', '/api/v1/admin/roles/reporter', { token: admin, body: { permissions: ['workspace:read:own'] } });
    expect(changed.status).toBe(200);
    expect((await call(env.t, 'GET', '/api/v1/admin/audit', { token: reporter })).json).toEqual(SEED_403('audit:read'));
    expect((await call(env.t, 'GET', '/api/v1/workspaces', { token: reporter })).status).toBe(200);

    expect((await call(env.t, 'DELETE', '/api/v1/admin/roles/reporter', { token: admin })).status).toBe(409);
    await call(env.t, 'PATCH', `/api/v1/admin/users/${reporterId}`, { token: admin, body: { role: 'viewer' } });
    expect((await call(env.t, 'DELETE', '/api/v1/admin/roles/reporter', { token: admin })).status).toBe(204);
    expect((await call(env.t, 'DELETE', '/api/v1/admin/roles/admin', { token: admin })).status).toBe(409);
  });

  it('the SQL in docs/troubleshooting.ko.md shows roles and permissions, and the audit log records role and login events', async () => {
    await call(env.t, 'GET', '/api/v1/admin/roles', { token: admin });
    const rows = await env.db.sql`
      SELECT u.email, u.role, ur.role_name, rp.permission
      FROM users u
      JOIN user_roles ur ON u.role = ur.role_name
      JOIN role_permissions rp ON ur.role_name = rp.role_name
      WHERE u.id = ${userId}`;
    expect(rows.map((r) => r.permission)).toEqual(expect.arrayContaining(['workspace:create', 'workspace:read:own', 'workspace:update:own']));
    await env.user('auditor@example.com', 'auditor');
    const auditor = await env.token('auditor@example.com');
    await call(env.t, 'POST', '/api/v1/auth/login', { body: { email: 'user@example.com', password: 'wrong password' } });
    const audit = await call(env.t, 'GET', '/api/v1/admin/audit?limit=200', { token: auditor });
    expect(audit.status).toBe(200);
    const actions = audit.json.items.map((a: any) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['login', 'login_failed', 'user_created', 'user_role_changed', 'role_created', 'role_updated', 'role_deleted']));
    const failed = audit.json.items.find((a: any) => a.action === 'login_failed' && a.details.method !== 'oauth2');
    expect(failed.details).toMatchObject({ email: 'user@example.com', reason: 'wrong_password' });
    expect(JSON.stringify(audit.json)).not.toContain('wrong password');
    const page = await call(env.t, 'GET', '/api/v1/admin/audit?limit=2', { token: auditor });
    const next = await call(env.t, 'GET', `/api/v1/admin/audit?limit=2&before=${page.json.next_before}`, { token: auditor });
    expect(page.json.items).toHaveLength(2);
    expect(next.json.items[0].id).toBeLessThan(page.json.items[1].id);
  });
});
