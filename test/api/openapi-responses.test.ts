import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { consoleRoutes } from '../../src/api/console/routes.js';
import { renderError } from '../../src/api/errors.js';
import type { AuthEnv } from '../../src/api/middleware/auth.js';
import { toOpenApiPath, WILDCARD_PARAM as WILDCARD } from '../../src/api/openapi/document.js';
import { mountRoutes } from '../../src/api/route.js';
import { CLOSED_PORT_URL, fillUnknown, METRICS_TOKEN, responseEnv, type ResponseEnv } from './openapi-responses-support.js';

// Every documented route, driven over the real app (real Postgres and Redis), with each answer validated
// against the schema the served document gives for its method, path, status and content type. Response
// objects are closed in the document, so a field a handler returns without documenting it fails here.
// The last test fails when a documented route, or a status a route documents, was never produced.

let env: ResponseEnv;
const who = { admin: '', alice: '', aliceKey: '', bob: '', bobKey: '', nobody: '', userManager: '', roleManager: '' };
let workspace = '';

beforeAll(async () => {
  env = await responseEnv();
  await env.user('admin@example.com', 'admin');
  await env.user('alice@example.com');
  await env.user('bob@example.com');
  await env.user('locked@example.com');
  who.admin = await env.token('admin@example.com');
  who.alice = await env.token('alice@example.com');
  who.bob = await env.token('bob@example.com');
  for (const [role, permissions] of [
    ['nobody', []],
    ['usermgr', ['user:manage']],
    ['rolemgr', ['role:manage']],
  ] as const) {
    const res = await env.hit('PUT /api/v1/admin/roles/{name}', `/api/v1/admin/roles/${role}`, { token: who.admin, body: { description: role, permissions } });
    expect(res.status, res.text).toBe(201);
    await env.user(`${role}@example.com`, role);
  }
  who.nobody = await env.token('nobody@example.com');
  who.userManager = await env.token('usermgr@example.com');
  who.roleManager = await env.token('rolemgr@example.com');
});

afterAll(async () => {
  await env?.close();
});

describe('operations and docs', () => {
  it('health, readiness, metrics, the document and its UI, JWKS', async () => {
    expect((await env.hit('GET /healthz', '/healthz')).status).toBe(200);
    expect((await env.hit('GET /readyz', '/readyz')).status).toBe(200);
    expect((await env.hit('GET /readyz', '/readyz', {}, env.down)).status).toBe(503);
    expect((await env.hit('GET /metrics', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
    expect((await env.hit('GET /openapi.json', '/openapi.json')).status).toBe(200);
    expect((await env.hit('GET /docs', '/docs')).status).toBe(200);
    expect((await env.hit('GET /docs/init.js', '/docs/init.js')).status).toBe(200);
    for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png']) {
      expect((await env.hit('GET /docs/assets/{file}', `/docs/assets/${file}`)).status).toBe(200);
    }
    expect((await env.hit('GET /.well-known/jwks.json', '/.well-known/jwks.json', {}, env.eddsa)).status).toBe(200);
    expect((await env.hit('GET /.well-known/jwks.json', '/.well-known/jwks.json')).status).toBe(404);
  });
});

describe('auth', () => {
  it('login, refresh, logout and me', async () => {
    const login = await env.hit('POST /api/v1/auth/login', '/api/v1/auth/login', { body: { email: 'alice@example.com', password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    expect((await env.hit('POST /api/v1/auth/login', '/api/v1/auth/login', { body: { email: 'alice@example.com', password: 'wrong' } })).status).toBe(401);
    const wrong = { body: { email: 'locked@example.com', password: 'wrong' } };
    for (let i = 0; i < 3; i++) await env.hit('POST /api/v1/auth/login', '/api/v1/auth/login', wrong);
    expect((await env.hit('POST /api/v1/auth/login', '/api/v1/auth/login', wrong)).status).toBe(429);

    const refreshed = await env.hit('POST /api/v1/auth/refresh', '/api/v1/auth/refresh', { body: { refresh_token: login.json.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect((await env.hit('POST /api/v1/auth/refresh', '/api/v1/auth/refresh', { body: {} })).status).toBe(401);
    expect((await env.hit('POST /api/v1/auth/logout', '/api/v1/auth/logout', { body: { refresh_token: refreshed.json.refresh_token } })).status).toBe(204);
    expect((await env.hit('POST /api/v1/auth/logout', '/api/v1/auth/logout', { body: {} })).status).toBe(401);
    expect((await env.hit('GET /api/v1/auth/me', '/api/v1/auth/me', { token: who.alice })).status).toBe(200);
  });

  it('OAuth2: the redirect to the provider and every way back', async () => {
    const start = async (provider: string, app = env.main) => {
      const res = await env.hit('GET /api/v1/auth/oauth/{provider}', `/api/v1/auth/oauth/${provider}`, {}, app);
      expect(res.status, res.text).toBe(302);
      const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
      // The browser at the provider: it logs the account in and is sent back with a code.
      const atProvider = await fetch(res.headers.get('location') as string, { redirect: 'manual' });
      const back = new URL(atProvider.headers.get('location') as string);
      return env.hit('GET /auth/callback/{provider}', back.pathname + back.search, { headers: { cookie } }, app);
    };
    expect((await start('github')).status).toBe(200);
    expect((await start('github', env.redirecting)).status).toBe(302);
    expect((await start('google')).status, 'an unverified email is refused').toBe(403);
    expect((await start('google', env.redirecting)).status, 'the provider refuses the client secret').toBe(401);
    expect((await start('google', env.unreachable)).status, `the token endpoint ${CLOSED_PORT_URL} does not answer`).toBe(502);
    expect((await env.hit('GET /auth/callback/{provider}', '/auth/callback/github?code=x')).status).toBe(400);
    const state = { headers: { cookie: 'aicli_oauth_state=s1' } };
    expect((await env.hit('GET /auth/callback/{provider}', '/auth/callback/github?code=x&state=s1', state, env.down)).status).toBe(503);
    expect((await env.hit('GET /api/v1/auth/oauth/{provider}', '/api/v1/auth/oauth/github', {}, env.down)).status).toBe(503);
  });
});

describe('browser sessions', () => {
  it('sign in, the CSRF token, refresh, sign out, and each refusal', async () => {
    const cookiesOf = (res: { headers: Headers }) => res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const signIn = await env.hit('POST /api/v1/auth/session', '/api/v1/auth/session', { body: { email: 'alice@example.com', password: 'correct horse battery' } });
    expect(signIn.status).toBe(200);
    const cookie = cookiesOf(signIn);
    const csrf = { 'x-csrf-token': signIn.json.csrf_token as string };
    expect((await env.hit('POST /api/v1/auth/session', '/api/v1/auth/session', { body: { email: 'alice@example.com', password: 'wrong' } })).status).toBe(401);
    const wrong = { body: { email: 'locked-browser@example.com', password: 'wrong' } };
    for (let i = 0; i < 3; i++) await env.hit('POST /api/v1/auth/session', '/api/v1/auth/session', wrong);
    expect((await env.hit('POST /api/v1/auth/session', '/api/v1/auth/session', wrong)).status).toBe(429);
    const got = await env.hit('GET /api/v1/auth/session', '/api/v1/auth/session', { headers: { cookie } });
    expect(got.json).toEqual({ csrf_token: csrf['x-csrf-token'], oauth_providers: ['github', 'google'] });

    expect((await env.hit('POST /api/v1/auth/session/refresh', '/api/v1/auth/session/refresh', { headers: { cookie } })).status).toBe(403);
    const refreshed = await env.hit('POST /api/v1/auth/session/refresh', '/api/v1/auth/session/refresh', { headers: { cookie, ...csrf } });
    expect(refreshed.status).toBe(200);
    // The rotated-away refresh token again: refused (and the whole login revoked).
    expect((await env.hit('POST /api/v1/auth/session/refresh', '/api/v1/auth/session/refresh', { headers: { cookie, ...csrf } })).status).toBe(401);

    expect((await env.hit('DELETE /api/v1/auth/session', '/api/v1/auth/session', { headers: { cookie } })).status).toBe(403);
    expect((await env.hit('DELETE /api/v1/auth/session', '/api/v1/auth/session', { headers: { cookie: cookiesOf(refreshed), ...csrf } })).status).toBe(204);
  });
});

describe('web console', () => {
  it('its pages and assets, and the answer of an unbuilt console', async () => {
    const page = await env.hit('GET /', '/');
    expect(page.status).toBe(200);
    for (const path of ['/workspaces', '/schedules', '/admin']) expect((await env.hit(`GET ${path}`, path)).status).toBe(200);
    expect((await env.hit(`GET /tasks/{${WILDCARD}}`, `/tasks/${randomUUID()}`)).status).toBe(200);
    const assets = [...page.text.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const a of assets) expect((await env.hit('GET /assets/{file}', `/assets/${a}`)).status).toBe(200);
    expect((await env.hit('GET /assets/{file}', '/assets/missing.js')).status).toBe(404);
    // Not built: 503 naming the fix, on the pages and the assets alike.
    const unbuilt = new Hono<AuthEnv>();
    mountRoutes(unbuilt, consoleRoutes(() => null));
    unbuilt.onError((e, c) => renderError(e, c, env.main.resources.logger));
    for (const [op, url] of [['GET /', '/'], ['GET /workspaces', '/workspaces'], ['GET /schedules', '/schedules'], ['GET /admin', '/admin'], [`GET /tasks/{${WILDCARD}}`, '/tasks/x'], ['GET /assets/{file}', '/assets/x.js']] as const) {
      const res = await env.recorder.record(op, await unbuilt.request(url));
      expect(res.status).toBe(503);
      expect(res.json.message).toMatch(/npm run build/);
    }
  });
});

describe('API keys', () => {
  it('create, list, revoke, and each refusal', async () => {
    const created = await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.alice, body: { name: 'alice key' } });
    expect(created.status).toBe(201);
    who.aliceKey = created.json.key;
    expect((await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.alice, body: { name: 'x', scopes: ['user:manage'] } })).status).toBe(403);
    expect((await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.alice, body: { name: 'x', expires_at: '2001-01-01T00:00:00Z' } })).status).toBe(422);
    for (let i = 0; i < 3; i++) {
      const made = await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.bob, body: { name: `bob ${i}` } });
      expect(made.status).toBe(201);
      who.bobKey = made.json.key;
    }
    expect((await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.bob, body: { name: 'one too many' } })).status).toBe(409);
    const spare = await env.hit('POST /api/v1/api-keys', '/api/v1/api-keys', { token: who.alice, body: { name: 'spare', expires_at: '2999-01-01T00:00:00+02:00' } });
    expect((await env.hit('DELETE /api/v1/api-keys/{id}', `/api/v1/api-keys/${spare.json.id}`, { token: who.alice })).status).toBe(204);
    const listed = await env.hit('GET /api/v1/api-keys', '/api/v1/api-keys?include_revoked=true', { token: who.alice });
    expect(listed.status).toBe(200);
    expect(listed.json.items.some((k: { revoked_at: string | null }) => k.revoked_at !== null)).toBe(true);
    // The key authenticates, and the caller it shows is the key's.
    const me = await env.hit('GET /api/v1/auth/me', '/api/v1/auth/me', { apiKey: who.aliceKey });
    expect(me.json.auth).toBe('api_key');
  });
});

describe('admin', () => {
  it('users: list, create, read, change, and each refusal', async () => {
    expect((await env.hit('GET /api/v1/admin/users', '/api/v1/admin/users?limit=50', { token: who.admin })).status).toBe(200);
    const made = await env.hit('POST /api/v1/admin/users', '/api/v1/admin/users', { token: who.admin, body: { email: 'made@example.com', role: 'user' } });
    expect(made.status).toBe(201);
    const users = '/api/v1/admin/users';
    expect((await env.hit('POST /api/v1/admin/users', users, { token: who.admin, body: { email: 'made@example.com' } })).status).toBe(409);
    expect((await env.hit('POST /api/v1/admin/users', users, { token: who.admin, body: { email: 'x@example.com', role: 'no_such_role' } })).status).toBe(422);
    expect((await env.hit('POST /api/v1/admin/users', users, { token: who.userManager, body: { email: 'y@example.com', role: 'admin' } })).status).toBe(403);
    const one = `${users}/${made.json.id}`;
    expect((await env.hit('GET /api/v1/admin/users/{id}', one, { token: who.admin })).status).toBe(200);
    expect((await env.hit('PATCH /api/v1/admin/users/{id}', one, { token: who.admin, body: { disabled: true } })).status).toBe(200);
    expect((await env.hit('PATCH /api/v1/admin/users/{id}', one, { token: who.admin, body: { role: 'no_such_role' } })).status).toBe(422);
    expect((await env.hit('PATCH /api/v1/admin/users/{id}', one, { token: who.userManager, body: { role: 'admin' } })).status).toBe(403);
    expect((await env.hit('PATCH /api/v1/admin/users/{id}', `${users}/${randomUUID()}`, { token: who.admin, body: { disabled: false } })).status).toBe(404);
    const [admin] = await env.db.sql`select id from users where email = 'admin@example.com'`;
    expect((await env.hit('PATCH /api/v1/admin/users/{id}', `${users}/${admin?.id}`, { token: who.admin, body: { role: 'user' } })).status, 'the last admin').toBe(409);
    expect((await env.hit('DELETE /api/v1/admin/users/{id}', `${users}/${admin?.id}`, { token: who.admin })).status, 'the last admin').toBe(409);
    expect((await env.hit('DELETE /api/v1/admin/users/{id}', one, { token: who.admin })).status).toBe(204);
    expect((await env.hit('DELETE /api/v1/admin/users/{id}', one, { token: who.admin })).status, 'already deleted').toBe(404);
  });

  it('roles and the audit log', async () => {
    expect((await env.hit('GET /api/v1/admin/roles', '/api/v1/admin/roles', { token: who.admin })).status).toBe(200);
    const role = '/api/v1/admin/roles/scratch';
    expect((await env.hit('PUT /api/v1/admin/roles/{name}', role, { token: who.admin, body: { permissions: ['task:read:own'] } })).status).toBe(201);
    expect((await env.hit('PUT /api/v1/admin/roles/{name}', role, { token: who.admin, body: { permissions: ['task:read:own', 'task:create'] } })).status).toBe(200);
    expect((await env.hit('PUT /api/v1/admin/roles/{name}', role, { token: who.roleManager, body: { permissions: ['*'] } })).status).toBe(403);
    expect((await env.hit('PUT /api/v1/admin/roles/{name}', '/api/v1/admin/roles/user', { token: who.admin, body: { permissions: [] } })).status).toBe(409);
    expect((await env.hit('PUT /api/v1/admin/roles/{name}', '/api/v1/admin/roles/Not%20a%20Name', { token: who.admin, body: { permissions: [] } })).status).toBe(404);
    expect((await env.hit('DELETE /api/v1/admin/roles/{name}', '/api/v1/admin/roles/nobody', { token: who.admin })).status, 'still held').toBe(409);
    expect((await env.hit('DELETE /api/v1/admin/roles/{name}', role, { token: who.admin })).status).toBe(204);
    const audit = await env.hit('GET /api/v1/admin/audit', '/api/v1/admin/audit?limit=2', { token: who.admin });
    expect(audit.status).toBe(200);
    expect(typeof audit.json.next_before).toBe('number');
  });
});

describe('workspaces', () => {
  it('create, list, read, change, keys, delete, and each refusal', async () => {
    const base = '/api/v1/workspaces';
    const made = await env.hit('POST /api/v1/workspaces', base, { token: who.alice, body: { name: 'w', egress: { mode: 'allowlist', domains: ['example.com'] } } });
    expect(made.status).toBe(201);
    workspace = made.json.id;
    const badEgress = { egress: { mode: 'allowlist', domains: ['10.0.0.1'] } };
    expect((await env.hit('POST /api/v1/workspaces', base, { token: who.alice, body: { name: 'w', ...badEgress } })).status).toBe(422);
    expect((await env.hit('GET /api/v1/workspaces', base, { token: who.alice })).status).toBe(200);
    const one = `${base}/${workspace}`;
    expect((await env.hit('GET /api/v1/workspaces/{id}', one, { token: who.alice })).status).toBe(200);
    expect((await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: { name: 'renamed' } })).status).toBe(200);
    expect((await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: badEgress })).status).toBe(422);
    expect((await env.hit('PUT /api/v1/workspaces/{id}', `${base}/${randomUUID()}`, { token: who.alice, body: { name: 'x' } })).status).toBe(404);

    const key = `${one}/anthropic-key`;
    expect((await env.hit('PUT /api/v1/workspaces/{id}/anthropic-key', key, { token: who.alice, body: { api_key: 'sk-ant-api03-0123456789abcdef' } })).status).toBe(204);
    const withKey = await env.hit('GET /api/v1/workspaces/{id}', one, { token: who.alice });
    expect(withKey.json.anthropic_key).toMatchObject({ set: true });
    expect((await env.hit('PUT /api/v1/workspaces/{id}/anthropic-key', key, { token: who.alice, body: { api_key: 'not a key' } })).status).toBe(422);
    const elsewhere = `${base}/${randomUUID()}/anthropic-key`;
    expect((await env.hit('PUT /api/v1/workspaces/{id}/anthropic-key', elsewhere, { token: who.alice, body: { api_key: 'sk-ant-api03-0123456789abcdef' } })).status).toBe(404);
    const noMasterKey = await env.hit('PUT /api/v1/workspaces/{id}/anthropic-key', key, { token: who.alice, body: { api_key: 'sk-ant-api03-0123456789abcdef' } }, env.down);
    expect(noMasterKey.status).toBe(503);
    expect((await env.hit('DELETE /api/v1/workspaces/{id}/anthropic-key', key, { token: who.alice })).status).toBe(204);

    const credential = `${one}/git-credential`;
    expect((await env.hit('PUT /api/v1/workspaces/{id}/git-credential', credential, { token: who.alice, body: { token: 'ghp_0123456789abcdefghij' } })).status).toBe(204);
    const withCredential = await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: { source: { type: 'git', url: 'https://github.com/example/repo.git' }, push: { remote: 'source' } } });
    expect(withCredential.json.push).toMatchObject({ remote: 'source', branch_prefix: 'aicli/', credential: { set: true, masked: '…ghij' } });
    expect(JSON.stringify(withCredential.json)).not.toContain('ghp_0123456789');
    expect((await env.hit('PUT /api/v1/workspaces/{id}/git-credential', credential, { token: who.alice, body: { username: 'a:b', password: 'x' } })).status).toBe(422);
    expect((await env.hit('PUT /api/v1/workspaces/{id}/git-credential', `${base}/${randomUUID()}/git-credential`, { token: who.alice, body: { token: 't' } })).status).toBe(404);
    expect((await env.hit('PUT /api/v1/workspaces/{id}/git-credential', credential, { token: who.alice, body: { token: 't' } }, env.down)).status).toBe(503);
    expect((await env.hit('DELETE /api/v1/workspaces/{id}/git-credential', credential, { token: who.alice })).status).toBe(204);
    expect((await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: { source: { type: 'empty' }, push: null } })).json.push).toBeNull();

    // MCP servers: their values are shown masked, and need a master key to be stored.
    const mcp = { mcp_servers: [{ name: 'echo', type: 'stdio', command: 'aicli-mcp-echo', env: { ECHO_TOKEN: 'a-long-enough-token-value' } }] };
    const withMcp = await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: mcp });
    expect(withMcp.json.mcp_servers[0].env).toEqual({ ECHO_TOKEN: '…alue' });
    expect((await env.hit('POST /api/v1/workspaces', base, { token: who.alice, body: { name: 'm', ...mcp } }, env.down)).status).toBe(503);
    expect((await env.hit('PUT /api/v1/workspaces/{id}', one, { token: who.alice, body: mcp }, env.down)).status).toBe(503);

    const spare = await env.hit('POST /api/v1/workspaces', base, { token: who.alice, body: { name: 'spare' } });
    expect((await env.hit('DELETE /api/v1/workspaces/{id}', `${base}/${spare.json.id}`, { token: who.alice })).status).toBe(204);
  });
});

/** A task as a worker leaves it: claimed (attempt 1, running), events and transcript written, then finished. */
async function finishLikeAWorker(taskId: string): Promise<void> {
  const sql = env.db.sql;
  await sql`update tasks set status = 'running', attempt = 1, worker_id = 'test-worker', started_at = now(), updated_at = now() where id = ${taskId}`;
  const events = [
    { seq: 1, type: 'status', payload: { status: 'running', attempt: 1 } },
    { seq: 2, type: 'assistant', payload: { type: 'assistant', message: { content: [{ type: 'text', text: 'done' }] } } },
    { seq: 3, type: 'end', payload: { status: 'succeeded' } },
  ];
  for (const e of events) {
    await sql`insert into task_events (task_id, seq, attempt, type, payload) values (${taskId}, ${e.seq}, 1, ${e.type}, ${sql.json(e.payload)})`;
  }
  await sql`insert into task_artifacts (task_id, kind, attempt, body, truncated) values (${taskId}, 'transcript', 1, ${'{"type":"user"}\n{"type":"result"}\n'}, false)`;
  const result = { text: 'done', is_error: false, subtype: 'success', num_turns: 1, total_cost_usd: 0.01, usage: { input_tokens: 3 }, session_id: randomUUID(), duration_ms: 1200, permission_denials: [] };
  const attemptError = { attempt: 0, code: 'sandbox_failed', message: 'the container did not start', at: new Date().toISOString() };
  await sql`
    update tasks set status = 'succeeded', result = ${sql.json(result)}, exit_code = 0, usage = ${sql.json({ input_tokens: 3 })},
      diff = ${'diff --git a/x b/x\n'}, diff_truncated = false, attempt_errors = ${sql.json([attemptError])},
      finished_at = now(), updated_at = now()
    where id = ${taskId} and status = 'running'`;
}

describe('tasks', () => {
  it('submit, replay, list, read, artifacts, events, cancel, and each refusal', async () => {
    const base = '/api/v1/tasks';
    const submit = (body: object, req: { token?: string; apiKey?: string; headers?: Record<string, string> } = { token: who.alice }, app = env.main) =>
      env.hit('POST /api/v1/tasks', base, { ...req, body }, app);
    const first = await submit({ workspace_id: workspace, prompt: 'one', webhook_url: 'https://hooks.example.com/x', metadata: { n: 1 } });
    expect(first.status, first.text).toBe(202);
    const keyed = { token: who.alice, headers: { 'idempotency-key': 'k-1' } };
    const second = await submit({ workspace_id: workspace, prompt: 'two', max_turns: 3, resources: { memory_mb: 256 } }, keyed);
    expect(second.status).toBe(202);
    expect((await submit({ workspace_id: workspace, prompt: 'two', max_turns: 3, resources: { memory_mb: 256 } }, keyed)).status, 'replayed').toBe(200);
    expect((await submit({ workspace_id: workspace, prompt: 'three' })).status, 'two queued tasks are the cap').toBe(429);
    expect((await submit({ workspace_id: randomUUID(), prompt: 'x' })).status).toBe(404);
    expect((await submit({ workspace_id: workspace, prompt: 'x', max_turns: 1_000_000 })).status).toBe(422);
    const bobsWorkspace = await env.hit('POST /api/v1/workspaces', '/api/v1/workspaces', { token: who.bob, body: { name: 'bob' } });
    const stored = await submit({ workspace_id: bobsWorkspace.json.id, prompt: 'while Redis is away' }, { apiKey: who.bobKey }, env.down);
    expect(stored.status).toBe(503);
    expect(stored.json.task_id).toMatch(/^[0-9a-f-]{36}$/);

    await finishLikeAWorker(first.json.id);
    const done = `${base}/${first.json.id}`;
    const task = await env.hit('GET /api/v1/tasks/{id}', done, { token: who.alice });
    expect(task.json).toMatchObject({ status: 'succeeded', webhook_url: 'https://hooks.example.com/x', cancel_requested: false });
    expect(task.json.attempt_errors).toHaveLength(1);
    const page = await env.hit('GET /api/v1/tasks', `${base}?limit=1`, { token: who.alice });
    expect(page.json.next_cursor).toEqual(expect.any(String));
    expect((await env.hit('GET /api/v1/tasks', `${base}?limit=1&cursor=${page.json.next_cursor}`, { token: who.alice })).status).toBe(200);
    expect((await env.hit('GET /api/v1/tasks/{id}/diff', `${done}/diff`, { token: who.alice })).json.diff).toContain('diff --git');
    const transcript = await env.hit('GET /api/v1/tasks/{id}/transcript', `${done}/transcript`, { token: who.alice });
    expect(transcript.status).toBe(200);
    expect((await env.hit('GET /api/v1/tasks/{id}/transcript', `${base}/${second.json.id}/transcript`, { token: who.alice })).status, 'none written').toBe(404);
    const events = await env.hit('GET /api/v1/tasks/{id}/events', `${done}/events?format=json`, { token: who.alice });
    expect(events.json.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
    // The stream of a finished task replays its events and ends after `end`.
    const stream = await env.hit('GET /api/v1/tasks/{id}/events', `${done}/events`, { token: who.alice });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.text).toContain('event: end');

    expect((await env.hit('POST /api/v1/tasks/{id}/cancel', `${done}/cancel`, { token: who.alice })).status, 'already finished').toBe(409);
    expect((await env.hit('POST /api/v1/tasks/{id}/cancel', `${base}/${second.json.id}/cancel`, { token: who.alice })).status, 'still queued').toBe(200);
    const running = await submit({ workspace_id: workspace, prompt: 'running' });
    await env.db.sql`update tasks set status = 'running', attempt = 1, worker_id = 'test-worker', started_at = now() where id = ${running.json.id}`;
    const requested = await env.hit('POST /api/v1/tasks/{id}/cancel', `${base}/${running.json.id}/cancel`, { token: who.alice });
    expect(requested.status).toBe(202);
    expect(requested.json.cancel_requested).toBe(true);
    expect((await env.hit('DELETE /api/v1/workspaces/{id}', `/api/v1/workspaces/${workspace}`, { token: who.alice })).status, 'a task still runs').toBe(409);
  });
});

describe('schedules', () => {
  it('create, list, read, pause, delete, and each refusal', async () => {
    const base = '/api/v1/schedules';
    const create = (body: object) => env.hit('POST /api/v1/schedules', base, { token: who.alice, body });
    const made = await create({ workspace_id: workspace, name: 'nightly', cron: '0 3 * * *', timezone: 'Asia/Seoul', task: { prompt: 'report', max_turns: 2, webhook_url: 'https://hooks.example.com/s', metadata: { n: 1 } } });
    expect(made.status, made.text).toBe(201);
    expect((await create({ workspace_id: randomUUID(), cron: '0 3 * * *', task: { prompt: 'x' } })).status).toBe(404);
    expect((await create({ workspace_id: workspace, cron: '0 3 * * *', task: { prompt: 'x', max_turns: 1_000_000 } })).status).toBe(422);
    expect((await env.hit('GET /api/v1/schedules', base, { token: who.alice })).json.items).toHaveLength(1);
    const one = `${base}/${made.json.id}`;
    await env.db.sql`insert into schedule_runs (schedule_id, tick_at, status, reason) values (${made.json.id}, now(), 'skipped', 'over a cap')`;
    expect((await env.hit('GET /api/v1/schedules/{id}', one, { token: who.alice })).json.runs).toHaveLength(1);
    expect((await env.hit('PATCH /api/v1/schedules/{id}', one, { token: who.alice, body: { enabled: false } })).json.next_runs).toEqual([]);
    expect((await env.hit('PATCH /api/v1/schedules/{id}', one, { token: who.alice, body: { cron: 'never' } })).status).toBe(400);
    expect((await env.hit('PATCH /api/v1/schedules/{id}', one, { token: who.alice, body: { task: { prompt: 'x', max_turns: 1_000_000 } } })).status).toBe(422);
    expect((await env.hit('DELETE /api/v1/schedules/{id}', one, { token: who.alice })).status).toBe(204);
  });
});

describe('branch push', () => {
  it('submit with push, the retry endpoint, and each refusal', async () => {
    const made = await env.hit('POST /api/v1/workspaces', '/api/v1/workspaces', {
      token: who.bob,
      body: { name: 'pushing', source: { type: 'git', url: 'https://github.com/example/repo.git' }, push: { remote: 'source', branch_prefix: 'bot/' } },
    });
    expect(made.status, made.text).toBe(201);
    const plain = await env.hit('POST /api/v1/workspaces', '/api/v1/workspaces', { token: who.bob, body: { name: 'plain' } });
    const refused = await env.hit('POST /api/v1/tasks', '/api/v1/tasks', { apiKey: who.bobKey, body: { workspace_id: plain.json.id, prompt: 'x', push: true } });
    expect(refused.status).toBe(422);
    expect(refused.json.message).toMatch(/git source/);
    const submitted = await env.hit('POST /api/v1/tasks', '/api/v1/tasks', { apiKey: who.bobKey, body: { workspace_id: made.json.id, prompt: 'push me', push: true } });
    expect(submitted.status, submitted.text).toBe(202);
    expect(submitted.json.push).toMatchObject({ state: 'pending', tries: 0 });
    const id = submitted.json.id as string;
    const retry = `/api/v1/tasks/${id}/push`;
    expect((await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey })).status, 'still queued').toBe(409);
    await finishLikeAWorker(id);
    expect((await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey })).status, 'its first try is pending').toBe(409);
    // A try pending for longer than a push may take was lost with its worker: it can be taken over.
    await env.db.sql`update tasks set updated_at = now() - interval '1 hour' where id = ${id}`;
    const takenOver = await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey });
    expect(takenOver.status, takenOver.text).toBe(202);
    expect(takenOver.json.push).toMatchObject({ state: 'pending', tries: 1 });
    // What the pusher records when the remote refused it.
    const failed = { state: 'failed', branch: 'bot/x', commit: null, remote: 'https://github.com/example/repo.git', compare_url: null, error: 'refused', tries: 1, pushed_at: null };
    await env.db.sql`update tasks set push = ${env.db.sql.json(failed)} where id = ${id}`;
    expect((await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey }, env.down)).status, 'Redis away').toBe(503);
    const [after] = await env.db.sql<{ push: { state: string } }[]>`select push from tasks where id = ${id}`;
    expect(after?.push.state, 'a try nothing runs does not stay pending').toBe('failed');
    const queued = await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey });
    expect(queued.status, queued.text).toBe(202);
    expect(queued.json.push).toMatchObject({ state: 'pending', tries: 3, error: null });
    expect(await env.main.resources.pushes?.getJob(`push-${id}-3`)).toBeTruthy();
    // The workspace default: a task pushes unless it asks push: false.
    const byDefault = await env.hit('PUT /api/v1/workspaces/{id}', `/api/v1/workspaces/${made.json.id}`, { token: who.bob, body: { push: { remote: 'source', default: true } } });
    expect(byDefault.json.push.default).toBe(true);
    for (const [asked, expected] of [[undefined, true], [false, undefined]] as const) {
      const t = await env.hit('POST /api/v1/tasks', '/api/v1/tasks', { apiKey: who.bobKey, body: { workspace_id: made.json.id, prompt: 'default', ...(asked === undefined ? {} : { push: asked }) } });
      expect(t.status, t.text).toBe(202);
      expect(t.json.options.push === true ? true : undefined, `push: ${String(asked)}`).toBe(expected);
      expect(t.json.push === null, `push: ${String(asked)}`).toBe(expected === undefined);
      expect((await env.hit('POST /api/v1/tasks/{id}/cancel', `/api/v1/tasks/${t.json.id}/cancel`, { apiKey: who.bobKey })).status).toBe(200);
    }
    // The default is read by the submission's own statement, with an Idempotency-Key too.
    const keyed = await env.hit('POST /api/v1/tasks', '/api/v1/tasks', { apiKey: who.bobKey, body: { workspace_id: made.json.id, prompt: 'keyed default' }, headers: { 'idempotency-key': `push-default-${randomUUID()}` } });
    expect(keyed.status, keyed.text).toBe(202);
    expect(keyed.json.options.push).toBe(true);
    expect(keyed.json.push).toMatchObject({ state: 'pending' });
    expect((await env.hit('POST /api/v1/tasks/{id}/cancel', `/api/v1/tasks/${keyed.json.id}/cancel`, { apiKey: who.bobKey })).status).toBe(200);
    // A workspace that pushes keeps a git source (the submission relies on it).
    const emptied = await env.hit('PUT /api/v1/workspaces/{id}', `/api/v1/workspaces/${made.json.id}`, { token: who.bob, body: { source: { type: 'empty' } } });
    expect(emptied.status).toBe(422);
    expect(emptied.json.message).toMatch(/push: null/);
    await env.db.sql`update workspaces set push = null where id = ${made.json.id}`;
    expect((await env.hit('POST /api/v1/tasks/{id}/push', retry, { apiKey: who.bobKey })).status, 'no push target any more').toBe(422);
  });
});

describe('webhooks and the queue board', () => {
  it('the webhook secret and its rotation', async () => {
    expect((await env.hit('GET /api/v1/webhook-secret', '/api/v1/webhook-secret', { token: who.alice })).status).toBe(200);
    expect((await env.hit('POST /api/v1/webhook-secret/rotate', '/api/v1/webhook-secret/rotate', { token: who.alice })).status).toBe(200);
  });

  it('bull-board: the page, its JSON API, its actions', async () => {
    const admin = { token: who.admin };
    const queue = env.main.queue.name;
    expect((await env.hit('GET /admin/queues', '/admin/queues', admin)).status).toBe(200);
    expect((await env.hit('GET /admin/queues/{subpath}', `/admin/queues/queue/${queue}`, admin)).status).toBe(200);
    expect((await env.hit('GET /admin/queues/{subpath}', '/admin/queues/api/queues', admin)).status).toBe(200);
    const added = await env.hit('POST /admin/queues/{subpath}', `/admin/queues/api/queues/${queue}/add`, { ...admin, body: { name: 'task', data: { taskId: randomUUID() } } });
    expect(added.status, added.text).toBe(200);
    const [job] = await env.main.queue.getJobs(['waiting', 'prioritized'], 0, 0);
    const update = await env.hit('PATCH /admin/queues/{subpath}', `/admin/queues/api/queues/${queue}/${job?.id}/update-data`, { ...admin, body: { taskId: randomUUID() } });
    expect(update.status, update.text).toBe(200);
    expect((await env.hit('PUT /admin/queues/{subpath}', '/admin/queues/api/queues/pause', admin)).status).toBe(200);
    expect((await env.hit('PUT /admin/queues/{subpath}', '/admin/queues/api/queues/resume', admin)).status).toBe(200);
    // Refusals of bull-board's own: an unknown queue, a method it has no endpoint for, the base path for anything but GET.
    const unknown = '/admin/queues/api/queues/no-such-queue';
    expect((await env.hit('GET /admin/queues/{subpath}', `${unknown}/1`, admin)).status).toBe(404);
    expect((await env.hit('PUT /admin/queues/{subpath}', `${unknown}/pause`, admin)).status).toBe(404);
    expect((await env.hit('POST /admin/queues/{subpath}', `${unknown}/add`, { ...admin, body: { name: 'x', data: {} } })).status).toBe(404);
    expect((await env.hit('PATCH /admin/queues/{subpath}', `${unknown}/1/update-data`, { ...admin, body: {} })).status).toBe(404);
    expect((await env.hit('DELETE /admin/queues/{subpath}', `${unknown}/1`, admin)).status).toBe(404);
    for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) {
      expect((await env.hit(`${method} /admin/queues`, '/admin/queues', { ...admin, body: {} })).status, method).toBe(404);
    }
  });
});

describe('every documented route answers as documented', () => {
  it('the usual refusals: no credentials, no permission, unknown ids, bodies and queries that fail validation', async () => {
    const declared = new Map(env.routes.map((r) => [`${r.method} ${toOpenApiPath(r.path)}`, r]));
    for (const operationId of env.recorder.operationIds) {
      const route = declared.get(operationId);
      if (!route) throw new Error(`${operationId} is documented but not declared`);
      const templatePath = operationId.slice(operationId.indexOf(' ') + 1);
      const url = fillUnknown(templatePath);
      const holder = route.access === 'public' ? {} : { token: who.admin };
      if (route.access !== 'public') expect((await env.hit(operationId, url)).status, operationId).toBe(401);
      if (typeof route.access === 'object') expect((await env.hit(operationId, url, { token: who.nobody })).status, operationId).toBe(403);
      if (route.path.includes('/:')) await env.hit(operationId, url, holder);
      if (route.body) await env.hit(operationId, url, { ...holder, raw: '{"not json' });
      if (route.query) await env.hit(operationId, `${url}?no_such_parameter=1`, holder);
    }
  });

  it('every answer matched its documented schema', () => {
    expect(env.recorder.problems).toEqual([]);
  });

  it('every documented route, and every status it documents, was produced', () => {
    const declared = new Map(env.routes.map((r) => [`${r.method} ${toOpenApiPath(r.path)}`, r]));
    const missing: string[] = [];
    for (const operationId of env.recorder.operationIds) {
      const route = declared.get(operationId);
      if (!route) throw new Error(`${operationId} is documented but not declared`);
      const expected = new Set(route.responses.map((r) => r.status));
      if (route.access !== 'public') expected.add(401);
      if (typeof route.access === 'object') expected.add(403);
      if (route.path.includes('/:')) expected.add(404);
      if (route.body || route.query) expected.add(400);
      missing.push(...env.recorder.missing(operationId, [...expected]));
    }
    expect(missing).toEqual([]);
    expect(env.recorder.operationIds.length).toBeGreaterThan(40);
  });
});
