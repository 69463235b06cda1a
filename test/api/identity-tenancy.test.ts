import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permissionTable } from '../../src/api/permissions.js';
import { call, identityEnv, type IdentityEnv } from './identity-support.js';

/**
 * The tenancy matrix: every route of the permission table that takes an id (admin routes aside, which are
 * cross-tenant by design), called with tenant A's credentials (access token and API key) on tenant B's
 * resources, answers 404 and changes nothing of B's. New routes join the matrix by being declared.
 */
// Built at collection time: the matrix below is read from the routes this app declares.
const env: IdentityEnv = await identityEnv('idtenancy', { secrets: { master_key: randomBytes(32).toString('base64') } });
const A = { id: '', token: '', apiKey: '', workspace: '', task: '', key: '', schedule: '' };
const B = { id: '', token: '', apiKey: '', workspace: '', task: '', key: '', schedule: '' };

const bodies: Record<string, unknown> = {
  'PUT /api/v1/workspaces/:id': { name: 'stolen' },
  'PUT /api/v1/workspaces/:id/anthropic-key': { api_key: 'sk-ant-api03-stolen-stolen-stolen' },
  'PATCH /api/v1/schedules/:id': { enabled: false, cron: '* * * * * *' },
  'PUT /api/v1/workspaces/:id/git-credential': { token: 'stolen-token' },
};

const queries: Record<string, string> = {
  'GET /api/v1/tasks/:id/events': '?format=json',
};

function idFor(path: string, who: typeof A): string {
  if (path.startsWith('/api/v1/workspaces/')) return who.workspace;
  if (path.startsWith('/api/v1/tasks/')) return who.task;
  if (path.startsWith('/api/v1/api-keys/')) return who.key;
  if (path.startsWith('/api/v1/schedules/')) return who.schedule;
  throw new Error(`the tenancy matrix does not know which resource ${path} names: add it to idFor`);
}

const matrix = permissionTable(env.t.routes).filter((r) => r.path.includes('/:') && !r.path.startsWith('/api/v1/admin/') && r.access !== 'public' && !r.path.startsWith('/api/v1/auth/'));

async function tenantB() {
  const sql = env.db.sql;
  const hasSecrets = (await sql`select to_regclass('workspace_secrets') is not null as present`)[0]?.present === true;
  return {
    workspaces: await sql`select * from workspaces where owner_id = ${B.id} order by id`,
    tasks: await sql`select * from tasks where owner_id = ${B.id} order by id`,
    schedules: await sql`select * from schedules where owner_id = ${B.id} order by id`,
    keys: await sql`select id, revoked_at, last_used_at from api_keys where user_id = ${B.id} order by id`,
    secrets: hasSecrets ? await sql`select workspace_id, kind, updated_at from workspace_secrets where workspace_id = ${B.workspace}` : [],
    sessions: await sql`select id, revoked_at from refresh_tokens where user_id = ${B.id} order by id`,
  };
}

beforeAll(async () => {
  for (const [who, email] of [[A, 'a@example.com'], [B, 'b@example.com']] as const) {
    who.id = await env.user(email);
    who.token = await env.token(email);
    const ws = await call(env.t, 'POST', '/api/v1/workspaces', { token: who.token, body: { name: `${email} ws` } });
    expect(ws.status).toBe(201);
    who.workspace = ws.json.id;
    const task = await call(env.t, 'POST', '/api/v1/tasks', { token: who.token, body: { workspace_id: who.workspace, prompt: `${email} secret prompt` } });
    expect(task.status).toBe(202);
    who.task = task.json.id;
    const schedule = await call(env.t, 'POST', '/api/v1/schedules', { token: who.token, body: { workspace_id: who.workspace, cron: '0 4 * * *', task: { prompt: `${email} nightly` } } });
    expect(schedule.status).toBe(201);
    who.schedule = schedule.json.id;
    const key = await call(env.t, 'POST', '/api/v1/api-keys', { token: who.token, body: { name: `${email} key` } });
    expect(key.status).toBe(201);
    who.key = key.json.id;
    who.apiKey = key.json.key;
  }
  // B's workspace holds a secret that A's DELETE must not reach.
  const secret = await call(env.t, 'PUT', `/api/v1/workspaces/${B.workspace}/anthropic-key`, { token: B.token, body: { api_key: 'sk-ant-api03-bbbbbbbbbbbbbbbbbbbb' } });
  expect([200, 201, 204]).toContain(secret.status);
});

afterAll(async () => {
  await env?.close();
});

describe("tenant A's credentials on tenant B's resources", () => {
  it('the matrix covers every id-taking route of the table', () => {
    const names = matrix.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'GET /api/v1/workspaces/:id',
        'PUT /api/v1/workspaces/:id',
        'DELETE /api/v1/workspaces/:id',
        'PUT /api/v1/workspaces/:id/anthropic-key',
        'DELETE /api/v1/workspaces/:id/anthropic-key',
        'PUT /api/v1/workspaces/:id/git-credential',
        'DELETE /api/v1/workspaces/:id/git-credential',
        'GET /api/v1/tasks/:id',
        'GET /api/v1/tasks/:id/diff',
        'GET /api/v1/tasks/:id/events',
        'GET /api/v1/tasks/:id/transcript',
        'POST /api/v1/tasks/:id/cancel',
        'POST /api/v1/tasks/:id/push',
        'DELETE /api/v1/api-keys/:id',
        'GET /api/v1/schedules/:id',
        'PATCH /api/v1/schedules/:id',
        'DELETE /api/v1/schedules/:id',
      ]),
    );
  });

  for (const credential of ['access token', 'API key'] as const) {
    for (const rule of matrix) {
      const name = `${rule.method} ${rule.path}`;
      it(`${name} with A's ${credential} answers 404 and changes nothing`, async () => {
        const before = await tenantB();
        const path = rule.path.replace(':id', idFor(rule.path, B)) + (queries[name] ?? '');
        const auth = credential === 'access token' ? { token: A.token } : { apiKey: A.apiKey };
        const res = await call(env.t, rule.method, path, { ...auth, body: bodies[name] });
        expect(res.status, `${name}: ${res.text}`).toBe(404);
        expect(Object.keys(res.json).sort()).toEqual(['error', 'message']);
        expect(res.text).not.toContain('b@example.com');
        expect(await tenantB()).toEqual(before);
      });
    }
  }

  it('lists show only the caller\'s own resources', async () => {
    for (const path of ['/api/v1/workspaces', '/api/v1/tasks', '/api/v1/api-keys', '/api/v1/schedules']) {
      const res = await call(env.t, 'GET', path, { token: A.token });
      expect(res.status).toBe(200);
      const ids = res.json.items.map((x: { id: string }) => x.id);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids).not.toContain(B.workspace);
      expect(ids).not.toContain(B.task);
      expect(ids).not.toContain(B.key);
      expect(ids).not.toContain(B.schedule);
    }
  });

  it("B's own credentials reach the same resources (the 404s above are about tenancy, not missing routes)", async () => {
    expect((await call(env.t, 'GET', `/api/v1/workspaces/${B.workspace}`, { token: B.token })).status).toBe(200);
    expect((await call(env.t, 'GET', `/api/v1/tasks/${B.task}`, { apiKey: B.apiKey })).status).toBe(200);
    expect((await call(env.t, 'GET', `/api/v1/schedules/${B.schedule}`, { apiKey: B.apiKey })).status).toBe(200);
    expect((await call(env.t, 'GET', `/api/v1/tasks/${B.task}/events?format=json`, { token: B.token })).status).toBe(200);
    expect((await call(env.t, 'DELETE', `/api/v1/api-keys/${B.key}`, { token: B.token })).status).toBe(204);
  });
});
