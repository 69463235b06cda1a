import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

/**
 * An administrator who may manage users and roles must not grant what they do not
 * hold. `useradmin` holds user:manage and role:manage but not admin:queues, task:read:any or `*`.
 */
let env: IdentityEnv;
let token: string;
let selfId: string;

const ESCALATION = { error: 'Permission escalation refused', message: expect.stringMatching(/you do not hold/) };

beforeAll(async () => {
  env = await identityEnv('idescalate', {
    rbac: { roles: { useradmin: { permissions: ['user:manage', 'role:manage', 'task:read:own', 'api_key:create'] }, ops: { permissions: ['admin:queues'] } } },
  });
  selfId = await env.user('ua@example.com', 'useradmin');
  token = await env.token('ua@example.com');
});

afterAll(async () => {
  await env?.close();
});

describe('no privilege escalation through roles', () => {
  it('a role with permissions beyond the caller\'s own cannot be created or widened (403)', async () => {
    const wide = await call(env.t, 'PUT', '/api/v1/admin/roles/superuser', { token, body: { permissions: ['*'] } });
    expect(wide.status).toBe(403);
    expect(wide.json).toEqual(ESCALATION);
    const any = await call(env.t, 'PUT', '/api/v1/admin/roles/reader', { token, body: { permissions: ['task:read:any'] } });
    expect(any.status).toBe(403);
    // Within the caller's own permissions the role is made, and widening it later is refused too.
    const ok = await call(env.t, 'PUT', '/api/v1/admin/roles/reader', { token, body: { permissions: ['task:read:own'] } });
    expect(ok.status).toBe(201);
    const widen = await call(env.t, 'PUT', '/api/v1/admin/roles/reader', { token, body: { permissions: ['task:read:own', 'admin:queues'] } });
    expect(widen.status).toBe(403);
    const roles = await call(env.t, 'GET', '/api/v1/admin/roles', { token });
    const names = (roles.json.items as Array<{ name: string; permissions: string[] }>).map((r) => [r.name, r.permissions]);
    expect(names).not.toContainEqual(['superuser', ['*']]);
    expect(names).toContainEqual(['reader', ['task:read:own']]);
  });

  it('a role whose permissions exceed the caller\'s cannot be assigned to anyone, the caller included (403)', async () => {
    const self = await call(env.t, 'PATCH', `/api/v1/admin/users/${selfId}`, { token, body: { role: 'admin' } });
    expect(self.status).toBe(403);
    expect(self.json).toEqual(ESCALATION);
    const otherId = await env.user('other@example.com');
    const other = await call(env.t, 'PATCH', `/api/v1/admin/users/${otherId}`, { token, body: { role: 'ops' } });
    expect(other.status).toBe(403);
    const created = await call(env.t, 'POST', '/api/v1/admin/users', { token, body: { email: 'new-admin@example.com', password: 'long enough pw', role: 'admin' } });
    expect(created.status).toBe(403);
    // Nothing changed: the caller is still useradmin, the other user still user, no admin was made.
    expect((await call(env.t, 'GET', `/api/v1/admin/users/${selfId}`, { token })).json.role).toBe('useradmin');
    expect((await call(env.t, 'GET', `/api/v1/admin/users/${otherId}`, { token })).json.role).toBe('user');
    expect((await env.login('new-admin@example.com')).status).toBe(401);
    // A role within the caller's own is assigned as before.
    const within = await call(env.t, 'PATCH', `/api/v1/admin/users/${otherId}`, { token, body: { role: 'reader' } });
    expect(within.status).toBe(200);
  });

  it('an API key cannot carry a scope its creator lacks (403)', async () => {
    const res = await call(env.t, 'POST', '/api/v1/api-keys', { token, body: { name: 'k', scopes: ['admin:queues'] } });
    expect(res.status).toBe(403);
    // The key route keeps the wording of docs/troubleshooting.ko.md for a scope beyond the caller's own.
    expect(res.json).toEqual({ error: 'Insufficient permissions', message: 'User does not have required permission: admin:queues' });
  });
});
