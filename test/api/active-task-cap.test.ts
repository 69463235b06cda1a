import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertTask } from '../../src/db/tasks.js';
import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';

// The cap of queued and running tasks per user reads a counter the tasks trigger keeps, instead of
// counting the user's backlog on every submission. It must stay exact under concurrent submissions and
// follow every transition.
const id = testId('activecap');
const CAP = 5;
let db: TestDatabase;
let t: TestApp;
let lc: TestLifecycle;
let token = '';
let ownerId = '';
let workspaceId = '';

const post = (body: unknown) =>
  t.app.request('/api/v1/tasks', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

const counted = async (owner: string) => (await db.sql<{ active: number }[]>`select active from user_active_tasks where owner_id = ${owner}`)[0]?.active ?? 0;
const actual = async (owner: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from tasks where owner_id = ${owner} and status in ('queued', 'running')`)[0]?.n ?? -1;

beforeAll(async () => {
  db = await createTestDatabase('activecap');
  t = buildTestApp(testConfig(id, db.url, { limits: { roles: { user: { max_concurrent_tasks: CAP } } } }), db.sql);
  lc = createTestLifecycle(db.sql, db.url, 'activecap', id);
  ownerId = (await createTestUser(db.sql, 'cap@example.com')).id;
  const login = await t.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'cap@example.com', password: 'correct horse battery' }),
  });
  token = ((await login.json()) as { access_token: string }).access_token;
  const ws = await t.app.request('/api/v1/workspaces', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'cap' }),
  });
  workspaceId = ((await ws.json()) as { id: string }).id;
});

afterAll(async () => {
  await lc?.close();
  await t?.close();
  await db?.drop();
});

describe('the per-user cap of queued and running tasks', () => {
  it('30 concurrent submissions against a cap of 5: exactly 5 are accepted, the rest answer 429 and store nothing', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => post({ workspace_id: workspaceId, prompt: `burst ${i}` })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(CAP);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - CAP);
    expect(await actual(ownerId)).toBe(CAP);
    expect(await counted(ownerId)).toBe(CAP);
  });

  it('a finished task frees its slot at once', async () => {
    const [first] = await db.sql<{ id: string }[]>`select id from tasks where owner_id = ${ownerId} and status = 'queued' order by created_at limit 1`;
    const c = await lc.lifecycle.claim(first!.id, 'w1');
    if (c.kind !== 'claimed') throw new Error(c.kind);
    expect((await post({ workspace_id: workspaceId, prompt: 'still full' })).status).toBe(429);
    expect(await lc.lifecycle.finish(c.task.lease, { status: 'succeeded', result: null, errorCode: null, errorMessage: null, exitCode: 0, usage: null, diff: null, diffTruncated: false })).toBe(true);
    expect((await post({ workspace_id: workspaceId, prompt: 'a freed slot' })).status).toBe(202);
    expect(await counted(ownerId)).toBe(CAP);
  });

  it('follows every transition and every writer: claim, retry, release, fail, cancel, mark-lost, raw updates and deletes', async () => {
    const other = (await createTestUser(db.sql, 'transitions@example.com')).id;
    const ws = await db.sql<{ id: string }[]>`insert into workspaces (owner_id, name, source) values (${other}, 'w', '{"type":"empty"}') returning id`;
    const tasks = await Promise.all(Array.from({ length: 6 }, () => insertTask(db.sql, { ownerId: other, workspaceId: ws[0]!.id, prompt: 'p', options: {}, metadata: null })));
    expect(await counted(other)).toBe(6);
    const claim = async (taskId: string): Promise<ClaimedTask> => {
      const c = await lc.lifecycle.claim(taskId, 'w');
      if (c.kind !== 'claimed') throw new Error(c.kind);
      return c.task;
    };
    const [a, b, c, d, e, f] = tasks.map((x) => x.id) as [string, string, string, string, string, string];
    expect(await lc.lifecycle.retry((await claim(a)).lease, { code: 'sandbox_error', message: 'x' })).toBe(true);
    expect(await lc.lifecycle.release((await claim(b)).lease, 'shutdown')).toBe(true);
    expect(await counted(other)).toBe(6);
    expect(await lc.lifecycle.fail((await claim(a)).lease, { code: 'sandbox_error', message: 'x' })).toBe(true);
    expect(await lc.lifecycle.cancel(other, c)).toBe('cancelled');
    await claim(d);
    expect(await lc.lifecycle.markLost(d, 'stalled')).toBe(true);
    expect(await counted(other)).toBe(3);
    await db.sql`update tasks set status = 'succeeded' where id = ${e}`;
    await db.sql`delete from tasks where id = ${f}`;
    await db.sql`delete from tasks where id = ${a}`;
    expect(await counted(other)).toBe(await actual(other));
    expect(await counted(other)).toBe(1);
  });
});
