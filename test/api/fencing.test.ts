import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertTask } from '../../src/db/tasks.js';
import { insertTaskEvents, listTaskEvents } from '../../src/db/task-events.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { createTestUser } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';

// The lease (tasks.attempt, bumped by each claim) fences every write: once a newer claim holds a task, an
// older one's events and transitions are refused, and nothing lands after the task ended.
let db: TestDatabase;
let t: TestLifecycle;
let ownerId = '';
let workspaceId = '';

beforeAll(async () => {
  db = await createTestDatabase('fencing');
  t = createTestLifecycle(db.sql, db.url, 'fencing');
  ownerId = (await createTestUser(db.sql, 'fence@example.com')).id;
  workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

async function claimed(id: string, worker: string): Promise<ClaimedTask> {
  const c = await t.lifecycle.claim(id, worker);
  if (c.kind !== 'claimed') throw new Error(`not claimed: ${c.kind}`);
  return c.task;
}

const outcome = (text: string) => ({
  status: 'succeeded' as const,
  result: { text },
  errorCode: null,
  errorMessage: null,
  exitCode: 0,
  usage: null,
  diff: '',
  diffTruncated: false,
});

describe('fencing by lease', () => {
  it('two claims of one task: only the newer lease writes events and the result', async () => {
    const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
    const first = await claimed(task.id, 'worker-a');
    const second = await claimed(task.id, 'worker-b');
    expect(first.lease.lease).toBe(1);
    expect(second.lease.lease).toBe(2);

    expect(await insertTaskEvents(db.sql, first.lease, [{ seq: second.nextSeq, type: 'claude', payload: { from: 'a' } }])).toBe(0);
    expect(await insertTaskEvents(db.sql, second.lease, [{ seq: second.nextSeq, type: 'claude', payload: { from: 'b' } }])).toBe(1);
    expect(await t.lifecycle.finish(first.lease, outcome('stale'))).toBe(false);
    expect(await t.lifecycle.retry(first.lease, { code: 'sandbox_error', message: 'late' })).toBe(false);
    expect(await t.lifecycle.release(first.lease, 'late')).toBe(false);
    expect(await t.lifecycle.finish(second.lease, outcome('winner'))).toBe(true);
    expect(await t.lifecycle.finish(second.lease, outcome('twice'))).toBe(false);

    const [row] = await db.sql`select status, attempt, result, worker_id, attempt_errors from tasks where id = ${task.id}`;
    expect(row).toMatchObject({ status: 'succeeded', attempt: 2, result: { text: 'winner' }, worker_id: 'worker-b', attempt_errors: [] });
    const events = await listTaskEvents(db.sql, task.id, 0, 10);
    expect(events.map((e) => [e.attempt, e.type, e.payload])).toEqual([
      [1, 'status', { status: 'running', attempt: 1, worker_id: 'worker-a' }],
      [2, 'status', { status: 'running', attempt: 2, worker_id: 'worker-b' }],
      [2, 'claude', { from: 'b' }],
      [2, 'status', { status: 'succeeded' }],
      [2, 'end', { status: 'succeeded', error: null }],
    ]);
  });

  it('nothing lands after the end: a late event of the finishing lease is refused', async () => {
    const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
    const c = await claimed(task.id, 'w');
    expect(await t.lifecycle.finish(c.lease, outcome('done'))).toBe(true);
    expect(await insertTaskEvents(db.sql, c.lease, [{ seq: 100, type: 'claude', payload: { late: true } }])).toBe(0);
    const [last] = await db.sql<{ type: string }[]>`select type from task_events where task_id = ${task.id} order by seq desc limit 1`;
    expect(last?.type).toBe('end');
  });

  it('a terminal task is never claimed again', async () => {
    const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
    const c = await claimed(task.id, 'w');
    expect(await t.lifecycle.finish(c.lease, outcome('done'))).toBe(true);
    expect(await t.lifecycle.claim(task.id, 'w2')).toEqual({ kind: 'terminal' });
  });
});
