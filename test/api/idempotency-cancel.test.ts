import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let t: TestApp;
let token = '';
let otherToken = '';
let workspaceId = '';
const id = testId('idem');

async function post(path: string, body: unknown, headers: Record<string, string> = {}, as = token) {
  const res = await t.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${as}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any, headers: res.headers };
}

beforeAll(async () => {
  db = await createTestDatabase('idem');
  t = buildTestApp(testConfig(id, db.url, { idempotency: { ttl: '2s' } }), db.sql);
  const user = await createTestUser(db.sql, 'idem@example.com');
  const other = await createTestUser(db.sql, 'idem-other@example.com');
  token = await t.tokens.sign({ sub: user.id, role: 'user' });
  otherToken = await t.tokens.sign({ sub: other.id, role: 'user' });
  workspaceId = (await post('/api/v1/workspaces', { name: 'w' })).json.id;
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const taskCount = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from tasks`)[0]?.n;

describe('Idempotency-Key', () => {
  it('20 parallel POSTs with one key create exactly one task and all return it', async () => {
    const before = await taskCount();
    const body = { workspace_id: workspaceId, prompt: 'once', max_turns: 2 };
    const results = await Promise.all(Array.from({ length: 20 }, () => post('/api/v1/tasks', body, { 'idempotency-key': 'key-parallel' })));
    const ids = new Set(results.map((r) => r.json.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(results.filter((r) => r.status === 200).every((r) => r.headers.get('idempotent-replayed') === 'true')).toBe(true);
    expect((await taskCount() ?? 0) - (before ?? 0)).toBe(1);
    const [taskId] = [...ids];
    expect((await t.queue.getJob(taskId as string))?.data).toEqual({ taskId });
  });

  it('the same key with a different body is 422 and creates nothing; key order does not matter', async () => {
    const first = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'a', max_turns: 3 }, { 'idempotency-key': 'k2' });
    expect(first.status).toBe(202);
    const reordered = await post('/api/v1/tasks', { max_turns: 3, prompt: 'a', workspace_id: workspaceId }, { 'idempotency-key': 'k2' });
    expect(reordered.status).toBe(200);
    expect(reordered.json.id).toBe(first.json.id);
    const before = await taskCount();
    const different = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'b' }, { 'idempotency-key': 'k2' });
    expect(different.status).toBe(422);
    expect(different.json).toEqual({ error: 'Idempotency key reused', message: 'this Idempotency-Key was already used with a different request body' });
    expect(await taskCount()).toBe(before);
  });

  it('keys are scoped to the principal and expire after idempotency.ttl', async () => {
    const mine = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'scoped' }, { 'idempotency-key': 'shared' });
    const otherWs = (await post('/api/v1/workspaces', { name: 'o' }, {}, otherToken)).json.id;
    const theirs = await post('/api/v1/tasks', { workspace_id: otherWs, prompt: 'scoped' }, { 'idempotency-key': 'shared' }, otherToken);
    expect(theirs.status).toBe(202);
    expect(theirs.json.id).not.toBe(mine.json.id);
    await db.sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = 'shared'`;
    const again = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'scoped' }, { 'idempotency-key': 'shared' });
    expect(again.status).toBe(202);
    expect(again.json.id).not.toBe(mine.json.id);
  });

  it('refuses a malformed key', async () => {
    const res = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'x' }, { 'idempotency-key': 'has space' });
    expect(res.status).toBe(400);
  });
});

describe('cancel', () => {
  it('cancels a waiting task at once: the job is removed, the end event stored; a second cancel is 409', async () => {
    const created = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'wait', webhook_url: 'https://example.invalid/hook' });
    expect(created.status).toBe(202);
    const taskId = created.json.id as string;
    const res = await post(`/api/v1/tasks/${taskId}/cancel`, {});
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' }, cancel_requested: true });
    expect(await t.queue.getJob(taskId)).toBeUndefined();
    const events = await db.sql<{ type: string; payload: any }[]>`select type, payload from task_events where task_id = ${taskId} order by seq`;
    expect(events.map((e) => e.type)).toEqual(['status', 'end']);
    expect(events[1]?.payload.status).toBe('cancelled');
    // The webhook of a task cancelled while waiting is queued for delivery too.
    expect(await t.resources.webhooks.getJob(`webhook-${taskId}`)).toBeDefined();
    const again = await post(`/api/v1/tasks/${taskId}/cancel`, {});
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/already finished with status cancelled/);
  });

  it("another tenant's task answers 404 and is not cancelled", async () => {
    const created = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'mine' });
    const res = await post(`/api/v1/tasks/${created.json.id}/cancel`, {}, {}, otherToken);
    expect(res.status).toBe(404);
    const [row] = await db.sql`select status from tasks where id = ${created.json.id}`;
    expect(row?.status).toBe('queued');
  });

  it('refuses a webhook URL that is not https', async () => {
    const res = await post('/api/v1/tasks', { workspace_id: workspaceId, prompt: 'x', webhook_url: 'ftp://example.com/' });
    expect(res.status).toBe(422);
    expect(res.json.message).toBe('webhook_url must use https');
  });
});
