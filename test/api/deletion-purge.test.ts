import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertWorkspaceSecret } from '../../src/db/workspace-secrets.js';
import { insertTask } from '../../src/db/tasks.js';
import { submitTask } from '../../src/db/task-submit.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { PURGE_LOCK_KEY, purgeRound } from '../../src/tasks/deletion/purger.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';

// Deleting a workspace or a user over the real API and Postgres: the row is hidden at once, and the real
// purger removes the history in bounded statements, cancelling whatever still runs, before the row goes.
const id = testId('purge');
const BATCH = 1000;
const PASSWORD = 'correct horse battery';
let db: TestDatabase;
let lc: TestLifecycle;
let app: TestApp;
let adminToken = '';

const config = testConfig(id, '');
const logger = createLogger(config, 'test-purge');

beforeAll(async () => {
  db = await createTestDatabase('purge');
  lc = createTestLifecycle(db.sql, db.url, 'purge', id);
  app = buildTestApp(testConfig(id, db.url), db.sql);
  await createTestUser(db.sql, 'root@example.com', PASSWORD, 'admin');
  adminToken = await login('root@example.com');
});

afterAll(async () => {
  await app?.close();
  await lc?.close();
  await db?.drop();
});

async function login(email: string): Promise<string> {
  const res = await app.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const call = (method: string, path: string, token: string, body?: unknown) =>
  app.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** `n` finished tasks of the workspace with `events` stream events each, by bulk SQL (history, not behaviour, is under test). */
async function seedHistory(ownerId: string, workspaceId: string, n: number, events: number): Promise<void> {
  await db.sql`
    with t as (
      insert into tasks (owner_id, workspace_id, prompt, options, status, finished_at, created_at)
      select ${ownerId}, ${workspaceId}, 'p', '{}'::jsonb, 'succeeded', now() - interval '1 day', now() - interval '2 days'
      from generate_series(1, ${n}) returning id)
    insert into task_events (task_id, seq, attempt, type, payload)
    select t.id, s, 1, 'stream', '{"line":"x"}'::jsonb from t cross join generate_series(1, ${events}) s`;
}

const rows = async (table: 'tasks' | 'task_events' | 'workspaces' | 'users' | 'workspace_secrets', where: postgres.PendingQuery<postgres.Row[]>) => {
  const [r] = await db.sql<{ n: number }[]>`select count(*)::int as n from ${db.sql(table)} where ${where}`;
  return r?.n ?? 0;
};

const purge = (sql = db.sql) =>
  purgeRound({ sql, batchSize: BATCH, cancel: (ownerId, taskId) => lc.lifecycle.cancel(ownerId, taskId), logger, metrics: createMetrics({ include: { http: false, tasks: true, process: false } }) });

async function newOwner(email: string): Promise<{ userId: string; workspaceId: string; token: string }> {
  const user = await createTestUser(db.sql, email, PASSWORD, 'user');
  const ws = await insertWorkspace(db.sql, { ownerId: user.id, name: email, source: { type: 'empty' } });
  return { userId: user.id, workspaceId: ws.id, token: await login(email) };
}

describe('deleting a workspace', () => {
  it('hides it at once, drops its key, and the purger removes its history in bounded statements, leaving other workspaces alone', async () => {
    const o = await newOwner('ws-owner@example.com');
    const other = await insertWorkspace(db.sql, { ownerId: o.userId, name: 'kept', source: { type: 'empty' } });
    await seedHistory(o.userId, o.workspaceId, 2500, 4);
    await seedHistory(o.userId, other.id, 30, 2);
    await upsertWorkspaceSecret(db.sql, {
      workspaceId: o.workspaceId,
      kind: 'anthropic_api_key',
      sealed: { keyId: 'k1', nonce: Buffer.alloc(12), ciphertext: Buffer.from('x'), tag: Buffer.alloc(16) },
      masked: 'sk-ant-…abcd',
    });

    expect((await call('DELETE', `/api/v1/workspaces/${o.workspaceId}`, o.token)).status).toBe(204);
    expect((await call('GET', `/api/v1/workspaces/${o.workspaceId}`, o.token)).status).toBe(404);
    expect((await call('DELETE', `/api/v1/workspaces/${o.workspaceId}`, o.token)).status).toBe(404);
    const list = (await (await call('GET', '/api/v1/workspaces', o.token)).json()) as { items: { id: string }[] };
    expect(list.items.map((w) => w.id)).toEqual([other.id]);
    const submit = await call('POST', '/api/v1/tasks', o.token, { workspace_id: o.workspaceId, prompt: 'hi' });
    expect(submit.status).toBe(404);
    expect(await rows('workspace_secrets', db.sql`workspace_id = ${o.workspaceId}`)).toBe(0);
    // Nothing is removed by the request itself: the history goes in the background.
    expect(await rows('tasks', db.sql`workspace_id = ${o.workspaceId}`)).toBe(2500);

    const round = await purge();
    expect(round).toMatchObject({ skipped: false, tasks: 2500, workspaces: 1, users: 0, cancelled: 0 });
    // 2500 rows at 1000 a statement: three statements, the last one short.
    if (round.skipped) throw new Error('skipped');
    expect(round.statements).toBe(3);
    expect(await rows('workspaces', db.sql`id = ${o.workspaceId}`)).toBe(0);
    expect(await rows('tasks', db.sql`workspace_id = ${o.workspaceId}`)).toBe(0);
    expect(await rows('task_events', db.sql`task_id not in (select id from tasks)`)).toBe(0);
    expect(await rows('tasks', db.sql`workspace_id = ${other.id}`)).toBe(30);
    expect(await rows('task_events', db.sql`task_id in (select id from tasks where workspace_id = ${other.id})`)).toBe(60);
    expect(await purge()).toMatchObject({ skipped: false, tasks: 0, workspaces: 0 });
  });

  it('refuses while a task is queued, and reads only active tasks to decide, however long the history', async () => {
    const o = await newOwner('busy-owner@example.com');
    await seedHistory(o.userId, o.workspaceId, 3000, 0);
    // And a backlog elsewhere: the check must read neither this workspace's history nor other queues.
    const elsewhere = await newOwner('backlog-owner@example.com');
    await db.sql`insert into tasks (owner_id, workspace_id, prompt, options) select ${elsewhere.userId}, ${elsewhere.workspaceId}, 'p', '{}'::jsonb from generate_series(1, 3000)`;
    const queued = await insertTask(db.sql, { ownerId: o.userId, workspaceId: o.workspaceId, prompt: 'p', options: {}, metadata: null, webhookUrl: null });
    await db.sql`analyze tasks`;
    const seen: { query: string; params: unknown[] }[] = [];
    const traced = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query, params) => void seen.push({ query, params: params as unknown[] }) });
    try {
      const { deleteWorkspace } = await import('../../src/db/workspaces.js');
      expect(await deleteWorkspace(traced, o.userId, o.workspaceId)).toBe('busy');
      const check = seen.find((s) => /from tasks where workspace_id/.test(s.query));
      if (!check) throw new Error(`the active-task check was not seen among ${seen.length} queries`);
      const [plan] = await db.sql.unsafe(`explain (format json) ${check.query}`, check.params as never[]);
      // The (workspace_id, status) range (migration 0008, with 0010's pair statistics): not the workspace's
      // history, nor every queue.
      expect(JSON.stringify(plan)).toContain('idx_tasks_workspace_status_created');
      expect(JSON.stringify(plan)).not.toContain('Seq Scan');
    } finally {
      await traced.end();
    }
    expect((await call('DELETE', `/api/v1/workspaces/${o.workspaceId}`, o.token)).status).toBe(409);
    expect(await lc.lifecycle.cancel(o.userId, queued.id)).toBe('cancelled');
    expect((await call('DELETE', `/api/v1/workspaces/${o.workspaceId}`, o.token)).status).toBe(204);
    expect(await purge()).toMatchObject({ skipped: false, tasks: 3001, workspaces: 1, cancelled: 0 });
    await db.sql`delete from tasks where workspace_id = ${elsewhere.workspaceId}`;
  });

  it('a submission racing the delete waits for it and then finds no workspace: no task lands in it', async () => {
    const o = await newOwner('racer@example.com');
    const deleter = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      // The delete's transaction, held open after it marked the row, as a slow delete would be.
      const deleting = deleter.begin(async (tx) => {
        await tx`select id from workspaces where id = ${o.workspaceId} for update`;
        await tx`update workspaces set deleted_at = now() where id = ${o.workspaceId}`;
        locked();
        await held;
      });
      await isLocked;
      const submitting = submitTask(db.sql, { ownerId: o.userId, workspaceId: o.workspaceId, prompt: 'p', options: {}, metadata: null, webhookUrl: null, maxActive: 10 });
      // The submission is waiting on the workspace's row lock.
      await expect
        .poll(async () => (await db.sql`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%with ws as%'`).length, { timeout: 10_000 })
        .toBe(1);
      release();
      await deleting;
      expect(await submitting).toEqual({ kind: 'no_workspace' });
      expect(await rows('tasks', db.sql`workspace_id = ${o.workspaceId}`)).toBe(0);
    } finally {
      await deleter.end();
    }
    expect(await purge()).toMatchObject({ skipped: false, workspaces: 1 });
  });

  it('cancels a task that slipped in as the workspace was deleted, waits for a running one to stop, then removes both', async () => {
    const o = await newOwner('race-owner@example.com');
    const slipped = await insertTask(db.sql, { ownerId: o.userId, workspaceId: o.workspaceId, prompt: 'p', options: {}, metadata: null, webhookUrl: null });
    const running = await insertTask(db.sql, { ownerId: o.userId, workspaceId: o.workspaceId, prompt: 'p', options: {}, metadata: null, webhookUrl: null });
    const claimed = await lc.lifecycle.claim(running.id, 'w1');
    if (claimed.kind !== 'claimed') throw new Error(`not claimed: ${claimed.kind}`);
    // Both arrived past the API's busy check, as a submission racing the delete can.
    await db.sql`update workspaces set deleted_at = now() where id = ${o.workspaceId}`;

    expect(await purge()).toMatchObject({ skipped: false, cancelled: 2, tasks: 1, workspaces: 0 });
    expect(await rows('tasks', db.sql`id = ${slipped.id}`)).toBe(0);
    const [stillRunning] = await db.sql<{ status: string; cancel_requested_at: Date | null }[]>`select status, cancel_requested_at from tasks where id = ${running.id}`;
    expect(stillRunning?.status).toBe('running');
    expect(stillRunning?.cancel_requested_at).not.toBeNull();

    // The worker stops it and records the end; the next round removes the rest.
    const ended = await lc.lifecycle.finish(claimed.task.lease, {
      status: 'cancelled',
      result: null,
      errorCode: 'cancelled',
      errorMessage: 'cancelled',
      exitCode: null,
      usage: { wall_ms: 1 },
      diff: null,
      diffTruncated: false,
    });
    expect(ended).toBe(true);
    expect(await purge()).toMatchObject({ skipped: false, cancelled: 0, tasks: 1, workspaces: 1 });
    expect(await rows('workspaces', db.sql`id = ${o.workspaceId}`)).toBe(0);
  });
});

describe('deleting a user', () => {
  it('ends their logins at once, and the purger removes their workspaces, tasks and row; the audit log keeps the deletion', async () => {
    const o = await newOwner('leaving@example.com');
    const second = await insertWorkspace(db.sql, { ownerId: o.userId, name: 'second', source: { type: 'empty' } });
    await seedHistory(o.userId, o.workspaceId, 1200, 3);
    await seedHistory(o.userId, second.id, 10, 1);
    const queued = await insertTask(db.sql, { ownerId: o.userId, workspaceId: second.id, prompt: 'p', options: {}, metadata: null, webhookUrl: null });
    expect((await call('GET', '/api/v1/tasks', o.token)).status).toBe(200);

    expect((await call('DELETE', `/api/v1/admin/users/${o.userId}`, adminToken)).status).toBe(204);
    expect((await call('GET', '/api/v1/tasks', o.token)).status).toBe(401);
    const relogin = await app.app.request('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'leaving@example.com', password: PASSWORD }),
    });
    expect(relogin.status).toBe(401);
    expect((await call('GET', `/api/v1/admin/users/${o.userId}`, adminToken)).status).toBe(404);
    expect((await call('PATCH', `/api/v1/admin/users/${o.userId}`, adminToken, { disabled: false })).status).toBe(404);
    const users = (await (await call('GET', '/api/v1/admin/users', adminToken)).json()) as { items: { id: string }[] };
    expect(users.items.map((u) => u.id)).not.toContain(o.userId);
    expect(await rows('workspaces', db.sql`owner_id = ${o.userId} and deleted_at is null`)).toBe(0);

    const round = await purge();
    expect(round).toMatchObject({ skipped: false, cancelled: 1, tasks: 1211, workspaces: 2, users: 1 });
    expect(await rows('users', db.sql`id = ${o.userId}`)).toBe(0);
    expect(await rows('tasks', db.sql`owner_id = ${o.userId} or id = ${queued.id}`)).toBe(0);
    const [audit] = await db.sql<{ n: number }[]>`select count(*)::int as n from audit_log where action = 'user_deleted' and target_id = ${o.userId}`;
    expect(audit?.n).toBe(1);

    // The email is free again once the row is gone.
    const again = await call('POST', '/api/v1/admin/users', adminToken, { email: 'leaving@example.com', password: PASSWORD });
    expect(again.status).toBe(201);
  });

  it('refuses to delete the last enabled admin', async () => {
    const [root] = await db.sql<{ id: string }[]>`select id from users where email = 'root@example.com'`;
    const res = await call('DELETE', `/api/v1/admin/users/${root?.id}`, adminToken);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { message: string }).message).toMatch(/last enabled admin/);
    expect((await call('GET', '/api/v1/tasks', adminToken)).status).toBe(200);
  });

  it('is refused to a plain user', async () => {
    const o = await newOwner('plain@example.com');
    const res = await call('DELETE', `/api/v1/admin/users/${o.userId}`, o.token);
    expect(res.status).toBe(403);
    expect(await rows('users', db.sql`id = ${o.userId} and deleted_at is null`)).toBe(1);
  });
});

describe('two purgers at once', () => {
  it('remove each row once: the second skips its round while the first holds the lock', async () => {
    const o = await newOwner('twice@example.com');
    await seedHistory(o.userId, o.workspaceId, 2200, 1);
    await db.sql`update workspaces set deleted_at = now() where id = ${o.workspaceId}`;
    const other = postgres(db.url, { max: 2, onnotice: () => {} });
    const holder = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      // A round in progress elsewhere: the lock is held, so this round does nothing.
      await holder`select pg_advisory_lock(${PURGE_LOCK_KEY}::bigint)`;
      expect(await purge(other)).toEqual({ skipped: true });
      expect(await rows('tasks', db.sql`workspace_id = ${o.workspaceId}`)).toBe(2200);
      await holder`select pg_advisory_unlock(${PURGE_LOCK_KEY}::bigint)`;

      const [a, b] = await Promise.all([purge(), purge(other)]);
      const removed = [a, b].reduce((sum, r) => sum + (r.skipped ? 0 : r.tasks), 0);
      expect(removed).toBe(2200);
      expect(await rows('workspaces', db.sql`id = ${o.workspaceId}`)).toBe(0);
    } finally {
      await holder.end();
      await other.end();
    }
  });
});
