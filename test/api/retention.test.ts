import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionSection, type RetentionConfig } from '../../src/config/sections/retention.js';
import { saveArtifact } from '../../src/db/task-artifacts.js';
import { insertTaskEvents, nextEventSeq } from '../../src/db/task-events.js';
import { insertTask } from '../../src/db/tasks.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { pruneRound, RETENTION_LOCK_KEY } from '../../src/tasks/retention/pruner.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';

// Retention over real Postgres: tasks are finished through the real lifecycle (row, events, outbox row),
// then made old by moving finished_at back, and the real pruner decides what goes.
const id = testId('retention');
let db: TestDatabase;
let lc: TestLifecycle;
let app: TestApp;
let token = '';
const owners = { user: '', viewer: '', admin: '' };
const workspaces = { user: '', viewer: '', admin: '' };
type Role = keyof typeof owners;

const config = testConfig(id, '');
const logger = createLogger(config, 'test-retention');
const retention = (given: object): RetentionConfig => retentionSection.parse(given);

beforeAll(async () => {
  db = await createTestDatabase('retention');
  lc = createTestLifecycle(db.sql, db.url, 'retention', id);
  app = buildTestApp(testConfig(id, db.url, { limits: { roles: { user: { max_concurrent_tasks: 1000 } } } }), db.sql);
  for (const role of ['user', 'viewer', 'admin'] as const) {
    owners[role] = (await createTestUser(db.sql, `${role}@example.com`, 'correct horse battery', role)).id;
    workspaces[role] = (await insertWorkspace(db.sql, { ownerId: owners[role], name: role, source: { type: 'empty' } })).id;
  }
  const login = await app.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'user@example.com', password: 'correct horse battery' }),
  });
  token = ((await login.json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  await app?.close();
  await lc?.close();
  await db?.drop();
});

// The pruner works on the whole database: each test starts from no tasks, so counts are its own.
beforeEach(async () => {
  await db.sql`delete from tasks`;
});

const newTask = (role: Role) =>
  insertTask(db.sql, { ownerId: owners[role], workspaceId: workspaces[role], prompt: 'p', options: {}, metadata: null, webhookUrl: 'http://127.0.0.1:9/hook' });

/** A claimed task with a few stream events and a transcript artifact, as a running attempt leaves it. */
async function runningTask(role: Role): Promise<ClaimedTask> {
  const task = await newTask(role);
  const c = await lc.lifecycle.claim(task.id, 'w1');
  if (c.kind !== 'claimed') throw new Error(`not claimed: ${c.kind}`);
  const seq = await nextEventSeq(db.sql, task.id);
  await insertTaskEvents(db.sql, c.task.lease, [
    { seq, type: 'stream', payload: { line: 'a' } },
    { seq: seq + 1, type: 'stream', payload: { line: 'b' } },
  ]);
  expect(await saveArtifact(db.sql, { taskId: task.id, attempt: c.task.lease.lease, kind: 'transcript', body: '{}', truncated: false })).toBe(true);
  return c.task;
}

/** A task finished through the lifecycle `daysAgo` days ago, with a webhook delivery and an idempotency key. */
async function finishedTask(role: Role, daysAgo: number): Promise<string> {
  const c = await runningTask(role);
  const finished = await lc.lifecycle.finish(c.lease, {
    status: 'succeeded',
    result: { text: 'ok' },
    errorCode: null,
    errorMessage: null,
    exitCode: 0,
    usage: { wall_ms: 10 },
    diff: 'diff --git a/x b/x',
    diffTruncated: false,
  });
  expect(finished).toBe(true);
  // Delivered webhook tries, a key, and an outbox row still owed (the relay deletes the ones it delivered).
  await db.sql`insert into webhook_deliveries (task_id, try, status_code) values (${c.id}, 1, 200)`;
  await db.sql`insert into task_outbox (task_id, transition, effects) values (${c.id}, 'finish', '{}'::jsonb)`;
  await db.sql`insert into idempotency_keys (owner_id, key, request_hash, task_id, expires_at)
    values (${owners[role]}, ${`k-${c.id}`}, 'h', ${c.id}, now() + interval '1 day')`;
  await ageFinished(c.id, daysAgo);
  return c.id;
}

const ageFinished = (taskId: string, daysAgo: number) =>
  db.sql`update tasks set finished_at = now() - make_interval(days => ${daysAgo}::int) where id = ${taskId}`;

const count = async (table: 'tasks' | 'task_events' | 'task_artifacts' | 'task_outbox' | 'webhook_deliveries' | 'idempotency_keys', taskId: string) => {
  const column = table === 'tasks' ? 'id' : 'task_id';
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from ${db.sql(table)} where ${db.sql(column)} = ${taskId}`;
  return row?.n ?? 0;
};

const stored = async (taskId: string) => ({
  row: await count('tasks', taskId),
  events: await count('task_events', taskId),
  artifacts: await count('task_artifacts', taskId),
  outbox: await count('task_outbox', taskId),
  deliveries: await count('webhook_deliveries', taskId),
  idempotency: await count('idempotency_keys', taskId),
});

const prune = (r: RetentionConfig, sql = db.sql, metrics = createMetrics({ include: { http: false, tasks: true, process: false } })) =>
  pruneRound({ sql, retention: r, logger, metrics });

describe('retention', () => {
  it('deletes an old finished task with everything stored for it, and keeps recent, queued and running tasks', async () => {
    const old = await finishedTask('user', 40);
    const recent = await finishedTask('user', 5);
    expect(await stored(old)).toEqual({ row: 1, events: 5, artifacts: 1, outbox: 1, deliveries: 1, idempotency: 1 });

    // Stale state planted on purpose: an old finished_at on a queued and a running task must not make them prunable.
    const queued = (await newTask('user')).id;
    await db.sql`update tasks set created_at = now() - interval '90 days' where id = ${queued}`;
    await ageFinished(queued, 90);
    const running = (await runningTask('user')).id;
    await ageFinished(running, 90);
    const runningBefore = await stored(running);
    expect(runningBefore.events).toBeGreaterThan(0);

    const metrics = createMetrics({ include: { http: false, tasks: true, process: false } });
    const round = await prune(retention({ task_days: 30, event_days: 30 }), db.sql, metrics);

    expect(round).toEqual({ skipped: false, tasks: 1, events: 0, statements: 2 });
    expect(await stored(old)).toEqual({ row: 0, events: 0, artifacts: 0, outbox: 0, deliveries: 0, idempotency: 0 });
    expect((await stored(recent)).events).toBe(5);
    expect(await stored(queued)).toMatchObject({ row: 1 });
    expect(await stored(running)).toEqual(runningBefore);
    const pruned = (await metrics.registry.getSingleMetric('aicli_retention_pruned_total')?.get())?.values ?? [];
    expect(pruned.find((v) => v.labels.kind === 'tasks')?.value).toBe(1);
    expect(pruned.find((v) => v.labels.kind === 'events')?.value).toBe(0);
  });

  it('with event_days below task_days drops the events of a finished task and keeps its row, result and diff', async () => {
    const older = await finishedTask('user', 5);
    const newer = await finishedTask('user', 1);
    const running = (await runningTask('user')).id;
    await ageFinished(running, 10);

    const round = await prune(retention({ task_days: 30, event_days: 2 }));

    expect(round).toMatchObject({ skipped: false, tasks: 0, events: 5 });
    const [row] = await db.sql`select status, result, diff from tasks where id = ${older}`;
    expect(row).toEqual({ status: 'succeeded', result: { text: 'ok' }, diff: 'diff --git a/x b/x' });
    expect(await stored(older)).toMatchObject({ row: 1, events: 0, artifacts: 1 });
    expect((await stored(newer)).events).toBe(5);
    expect((await stored(running)).events).toBe(3);
  });

  it("decides by the owner's role: an override wins over the global value, and an override of 0 keeps forever", async () => {
    const viewerTask = await finishedTask('viewer', 5);
    const userTask = await finishedTask('user', 5);
    const oldUserTask = await finishedTask('user', 100);
    const adminTask = await finishedTask('admin', 100);

    const round = await prune(retention({ task_days: 30, roles: { viewer: { task_days: 3 }, admin: { task_days: 0 } } }));

    expect(round).toMatchObject({ skipped: false, tasks: 2 });
    expect(await count('tasks', viewerTask)).toBe(0);
    expect(await count('tasks', oldUserTask)).toBe(0);
    expect(await count('tasks', userTask)).toBe(1);
    expect(await count('tasks', adminTask)).toBe(1);
  });

  it('removes every eligible task in bounded batches: batch_size 2 and 5 tasks take three statements', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await finishedTask('user', 10 + i));
    const kept = await finishedTask('user', 1);

    const round = await prune(retention({ task_days: 7, batch_size: 2 }));

    expect(round).toEqual({ skipped: false, tasks: 5, events: 0, statements: 3 });
    for (const t of ids) expect(await count('tasks', t)).toBe(0);
    expect(await count('tasks', kept)).toBe(1);
  });

  it('runs one pruner at a time: two rounds at once remove each row once, and the second skips or finds nothing', async () => {
    const eligible = 12;
    for (let i = 0; i < eligible; i++) await finishedTask('user', 10);
    const other = postgres(db.url, { max: 2, onnotice: () => {} });
    try {
      const r = retention({ task_days: 7, event_days: 7, batch_size: 2 });
      const rounds = await Promise.all([prune(r), prune(r, other)]);
      const removed = rounds.reduce((sum, x) => sum + (x.skipped ? 0 : x.tasks), 0);
      expect(removed).toBe(eligible);
      expect(rounds.filter((x) => x.skipped || x.tasks === 0)).toHaveLength(1);
      const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from tasks`;
      expect(left?.n).toBe(0);
    } finally {
      await other.end({ timeout: 5 });
    }
  });

  it('skips the round, deleting nothing, while another session holds the retention lock', async () => {
    const old = await finishedTask('user', 40);
    const holder = await db.sql.reserve();
    try {
      await holder`select pg_advisory_lock(${RETENTION_LOCK_KEY}::bigint)`;
      expect(await prune(retention({ task_days: 30 }))).toEqual({ skipped: true });
      expect(await count('tasks', old)).toBe(1);
    } finally {
      await holder`select pg_advisory_unlock(${RETENTION_LOCK_KEY}::bigint)`;
      holder.release();
    }
    expect(await prune(retention({ task_days: 30 }))).toMatchObject({ skipped: false, tasks: 1 });
  });

  it('a task deleted by retention answers 404 through the API', async () => {
    const old = await finishedTask('user', 40);
    const get = () => app.app.request(`/api/v1/tasks/${old}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get()).status).toBe(200);

    await prune(retention({ task_days: 30 }));

    const res = await get();
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: string; message: string };
    expect(typeof body.error).toBe('string');
    expect(typeof body.message).toBe('string');
  });
});
