import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileQueuedTasks } from '../../src/queue/reconciler.js';
import { createLogger } from '../../src/observability/logger.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// This file queues many tasks for one user: lift the per-user submission cap (tested in caps-limits).
const MANY_TASKS = { roles: { user: { max_concurrent_tasks: 1000 } } };
let db: TestDatabase;
let t: TestApp;
const id = testId('tasksapi');
let tokenA = '';
let tokenB = '';
let wsA = '';
let wsB = '';

async function call(method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined || opts.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = opts.raw ?? JSON.stringify(opts.body);
  }
  const res = await t.app.request(path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

const counts = async () => {
  const [row] = await db.sql<{ tasks: number; workspaces: number }[]>`
    select (select count(*)::int from tasks) as tasks, (select count(*)::int from workspaces) as workspaces`;
  return row;
};

beforeAll(async () => {
  db = await createTestDatabase('tasksapi');
  t = buildTestApp(testConfig(id, db.url, { server: { max_prompt_chars: 1000 }, sandbox: { git_file_root: '/srv/git' }, limits: MANY_TASKS }), db.sql);
  await createTestUser(db.sql, 'a@example.com');
  await createTestUser(db.sql, 'b@example.com');
  const login = async (email: string) => (await call('POST', '/api/v1/auth/login', { body: { email, password: 'correct horse battery' } })).json.access_token as string;
  tokenA = await login('a@example.com');
  tokenB = await login('b@example.com');
  wsA = (await call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'A' } })).json.id;
  wsB = (await call('POST', '/api/v1/workspaces', { token: tokenB, body: { name: 'B' } })).json.id;
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('login', () => {
  it('returns a bearer token for the right password and 401 otherwise', async () => {
    const ok = await call('POST', '/api/v1/auth/login', { body: { email: 'a@example.com', password: 'correct horse battery' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const bad = await call('POST', '/api/v1/auth/login', { body: { email: 'a@example.com', password: 'wrong' } });
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual({ error: 'Invalid credentials', message: 'email or password is incorrect' });
    const nobody = await call('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'x' } });
    expect(nobody.status).toBe(401);
  });
});

describe('bad requests get 4xx {error, message} and write nothing', () => {
  const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
    ['invalid JSON', () => call('POST', '/api/v1/tasks', { token: tokenA, raw: '{"prompt": ' }), 400, /not valid JSON/],
    ['unknown field', () => call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsA, prompt: 'hi', image: 'evil' } }), 400, /unknown field image/],
    ['prompt over the limit', () => call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsA, prompt: 'x'.repeat(1001) } }), 400, /prompt: must be at most 1000/],
    ['empty prompt', () => call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsA, prompt: '' } }), 400, /prompt/],
    ['missing token', () => call('POST', '/api/v1/tasks', { body: { workspace_id: wsA, prompt: 'hi' } }), 401, /missing bearer token/],
    ['forged token', () => call('POST', '/api/v1/tasks', { token: `${tokenA.slice(0, -4)}AAAA`, body: { workspace_id: wsA, prompt: 'hi' } }), 401, /signature is invalid/],
    ['garbage token', () => call('POST', '/api/v1/tasks', { token: 'not-a-jwt', body: { workspace_id: wsA, prompt: 'hi' } }), 401, /malformed|invalid/],
    ["another tenant's workspace", () => call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsB, prompt: 'hi' } }), 404, /workspace not found/],
    ['memory above the cap', () => call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsA, prompt: 'hi', resources: { memory_mb: 999999 } } }), 422, /sandbox.max_memory_mb/],
    ['wrong content type', () => call('POST', '/api/v1/tasks', { token: tokenA, raw: 'prompt=hi', headers: { 'content-type': 'text/plain' } }), 400, /Content-Type: application\/json/],
    ['git url outside the file root', () => call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'x', source: { type: 'git', url: 'file:///etc' } } }), 422, /source.url/],
    ['ssh git url', () => call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'x', source: { type: 'git', url: 'git@example.com:a/b.git' } } }), 422, /source.url/],
    ['https git url at the metadata address', () => call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'x', source: { type: 'git', url: 'https://169.254.169.254/x.git' } } }), 422, /source.url: .*metadata/],
    ['https git url at loopback in hex', () => call('PUT', `/api/v1/workspaces/${wsA}`, { token: tokenA, body: { name: 'A', source: { type: 'git', url: 'https://0x7f000001/r.git' } } }), 422, /source.url: .*127\.0\.0\.1 is a loopback/],
  ];
  for (const [name, run, status, message] of cases) {
    it(name, async () => {
      const before = await counts();
      const res = await run();
      expect(res.status).toBe(status);
      expect(Object.keys(res.json).sort()).toEqual(['error', 'message']);
      expect(res.json.message).toMatch(message);
      expect(await counts()).toEqual(before);
    });
  }

  it('a body over the limit is 413', async () => {
    const res = await call('POST', '/api/v1/tasks', { token: tokenA, raw: JSON.stringify({ prompt: 'x'.repeat(2_000_000) }) });
    expect(res.status).toBe(413);
    expect(res.json.error).toBe('Payload too large');
  });
});

describe('tenancy', () => {
  it("another tenant's workspace and task answer 404 and are not changed", async () => {
    const task = await call('POST', '/api/v1/tasks', { token: tokenB, body: { workspace_id: wsB, prompt: 'b task' } });
    expect(task.status).toBe(202);
    for (const [method, path] of [
      ['GET', `/api/v1/workspaces/${wsB}`],
      ['PUT', `/api/v1/workspaces/${wsB}`],
      ['DELETE', `/api/v1/workspaces/${wsB}`],
      ['GET', `/api/v1/tasks/${task.json.id}`],
      ['GET', `/api/v1/tasks/${task.json.id}/diff`],
      ['GET', `/api/v1/tasks/${task.json.id}/events?format=json`],
    ] as const) {
      const res = await call(method, path, { token: tokenA, body: method === 'PUT' ? { name: 'stolen' } : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const mine = await call('GET', `/api/v1/workspaces/${wsB}`, { token: tokenB });
    expect(mine.json.name).toBe('B');
    const list = await call('GET', '/api/v1/tasks', { token: tokenA });
    expect(list.json.items.map((x: { id: string }) => x.id)).not.toContain(task.json.id);
  });
});

describe('tasks', () => {
  it('stores the row, adds a job whose data is only the task id, and pages with a cursor', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call('POST', '/api/v1/tasks', { token: tokenA, body: { workspace_id: wsA, prompt: `secret prompt ${i}`, max_turns: 3 } });
      expect(res.status).toBe(202);
      expect(res.json).toMatchObject({ status: 'queued', attempt: 0, workspace_id: wsA, options: { max_turns: 3 } });
      created.push(res.json.id);
    }
    const job = await t.queue.getJob(created[0] as string);
    expect(job?.data).toEqual({ taskId: created[0] });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/v1/tasks?workspace_id=${wsA}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await call('GET', q, { token: tokenA });
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.items.map((x: { id: string }) => x.id));
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...created].reverse());
    const queued = await call('GET', `/api/v1/tasks?status=queued&workspace_id=${wsA}`, { token: tokenA });
    expect(queued.json.items).toHaveLength(5);
    const bad = await call('GET', '/api/v1/tasks?cursor=zzz', { token: tokenA });
    expect(bad.status).toBe(400);
    // A cursor rebuilt by hand with values the page query cannot take was a 500 (found by the fuzz).
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const forged of [['2026-01-01T00:00:00.000Z', 'a\u0000b'], ['2026-01-01T00:00:00.000Z', 'not-a-uuid'], ['yesterday 1', '00000000-0000-4000-8000-000000000000']]) {
      const res = await call('GET', `/api/v1/tasks?cursor=${forge(forged)}`, { token: tokenA });
      expect(res.status, JSON.stringify(forged)).toBe(400);
      expect(res.json).toMatchObject({ error: expect.any(String), message: expect.stringMatching(/cursor/) });
    }
  });

  it('pages through tasks created within one millisecond without skipping one (the cursor keeps microseconds)', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'same-ms' } })).json.id as string;
    const [owner] = await db.sql<{ owner_id: string }[]>`select owner_id from workspaces where id = ${ws}`;
    // Five tasks in the same millisecond, a few microseconds apart: a cursor cut to milliseconds lands
    // before all of them, and the rows between the cut and the page's last row were never shown.
    const rows = await db.sql<{ id: string }[]>`
      insert into tasks (owner_id, workspace_id, status, prompt, created_at, finished_at)
      select ${owner!.owner_id}, ${ws}, 'succeeded', 'same ms', timestamptz '2026-06-01 12:00:00.123000+00' + g * interval '100 microseconds', now()
      from generate_series(1, 5) g order by g returning id`;
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call('GET', `/api/v1/tasks?workspace_id=${ws}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: tokenA });
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((x: { id: string }) => x.id));
      cursor = page.json.next_cursor;
    } while (cursor && seen.length < 20);
    expect(seen).toEqual(rows.map((r) => r.id).reverse());
  });

  it('answers 503 while Redis is away, keeps the row, and the reconciler enqueues it later', async () => {
    const downCfg = testConfig(id, db.url, { redis: { url: 'redis://127.0.0.1:1' }, limits: MANY_TASKS });
    const down = buildTestApp(downCfg, db.sql);
    try {
      const res = await down.app.request('/api/v1/tasks', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokenA}` },
        body: JSON.stringify({ workspace_id: wsA, prompt: 'while redis is down' }),
      });
      expect(res.status).toBe(503);
      const body: any = await res.json();
      expect(body.error).toBe('Service unavailable');
      expect(res.headers.get('retry-after')).toBe('5');
      const [row] = await db.sql`select status, enqueued_at from tasks where id = ${body.task_id}`;
      expect(row).toMatchObject({ status: 'queued', enqueued_at: null });
      expect(await t.queue.getJob(body.task_id)).toBeUndefined();
      const added = await reconcileQueuedTasks(db.sql, t.queue, createLogger(downCfg, 'test'), { olderThanMs: 0, limit: 100 });
      expect(added).toBeGreaterThanOrEqual(1);
      expect((await t.queue.getJob(body.task_id))?.data).toEqual({ taskId: body.task_id });
    } finally {
      await down.close();
    }
  });

  it('the reconciler sweeps the whole backlog a page per round: a row past the oldest page gets its job too', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'sweep' } })).json.id as string;
    const [owner] = await db.sql<{ owner_id: string }[]>`select owner_id from workspaces where id = ${ws}`;
    // 450 queued rows whose jobs were never added (as if Redis had lost them), the youngest a minute old.
    const rows = await db.sql<{ id: string }[]>`
      insert into tasks (owner_id, workspace_id, status, prompt, created_at)
      select ${owner!.owner_id}, ${ws}, 'queued', 'lost job', now() - interval '1 minute' - g * interval '1 second' from generate_series(1, 450) g
      returning id`;
    const position = {};
    const logger = createLogger(testConfig(id, db.url), 'test');
    let rounds = 0;
    do {
      await reconcileQueuedTasks(db.sql, t.queue, logger, { olderThanMs: 0, limit: 200, position });
      rounds++;
    } while ((position as { after?: unknown }).after && rounds < 20);
    expect(rounds).toBeLessThan(20);
    const jobs = await Promise.all(rows.map((r) => t.queue.getJob(r.id)));
    expect(jobs.filter((j) => !j).length).toBe(0);
    const [marked] = await db.sql<{ n: number }[]>`select count(*)::int as n from tasks where workspace_id = ${ws} and enqueued_at is not null`;
    expect(marked!.n).toBe(450);
    // A full second sweep finds nothing missing.
    let again = 0;
    do again += await reconcileQueuedTasks(db.sql, t.queue, logger, { olderThanMs: 0, limit: 200, position });
    while ((position as { after?: unknown }).after);
    expect(again).toBe(0);
    await db.sql`update tasks set status = 'cancelled', finished_at = now() where workspace_id = ${ws}`;
  });

  it('refuses to delete a workspace with queued tasks (409) and deletes an idle one (204)', async () => {
    expect((await call('DELETE', `/api/v1/workspaces/${wsA}`, { token: tokenA })).status).toBe(409);
    const idle = await call('POST', '/api/v1/workspaces', { token: tokenA, body: { name: 'idle' } });
    expect((await call('DELETE', `/api/v1/workspaces/${idle.json.id}`, { token: tokenA })).status).toBe(204);
    expect((await call('GET', `/api/v1/workspaces/${idle.json.id}`, { token: tokenA })).status).toBe(404);
  });
});

describe('health', () => {
  it('/healthz and /readyz answer with named checks', async () => {
    expect((await call('GET', '/healthz')).json).toEqual({ status: 'ok' });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.checks.postgres.ok).toBe(true);
    expect(ready.json.checks.redis.ok).toBe(true);
  });
});
