import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTask, finishTask, insertTask, requeueAfterFault } from '../../src/db/tasks.js';
import { insertTaskEvents, listTaskEvents } from '../../src/db/task-events.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createTestUser } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// The attempt number is the fencing token: once a newer attempt holds a task, every write of an older one is refused.
let db: TestDatabase;
let ownerId = '';
let workspaceId = '';

beforeAll(async () => {
  db = await createTestDatabase('fencing');
  ownerId = (await createTestUser(db.sql, 'fence@example.com')).id;
  workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
});
afterAll(async () => db?.drop());

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

describe('fencing by attempt', () => {
  it('two claims of one task: only the newer attempt writes events and the result', async () => {
    const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
    const first = await claimTask(db.sql, task.id, 'worker-a');
    const second = await claimTask(db.sql, task.id, 'worker-b');
    expect(first?.attempt).toBe(1);
    expect(second?.attempt).toBe(2);

    expect(await insertTaskEvents(db.sql, task.id, 1, [{ seq: 1, type: 'claude', payload: { from: 'a' } }])).toBe(0);
    expect(await insertTaskEvents(db.sql, task.id, 2, [{ seq: 1, type: 'claude', payload: { from: 'b' } }])).toBe(1);
    expect(await finishTask(db.sql, task.id, 1, outcome('stale'))).toBe(false);
    expect(await requeueAfterFault(db.sql, task.id, 1, { code: 'sandbox_error', message: 'late' })).toBe(false);
    expect(await finishTask(db.sql, task.id, 2, outcome('winner'))).toBe(true);
    expect(await finishTask(db.sql, task.id, 2, outcome('twice'))).toBe(false);

    const [row] = await db.sql`select status, attempt, result, worker_id, attempt_errors from tasks where id = ${task.id}`;
    expect(row).toMatchObject({ status: 'succeeded', attempt: 2, result: { text: 'winner' }, worker_id: 'worker-b', attempt_errors: [] });
    const events = await listTaskEvents(db.sql, task.id, 0, 10);
    expect(events.map((e) => [e.attempt, e.payload])).toEqual([[2, { from: 'b' }]]);
  });

  it('a terminal task is never claimed again', async () => {
    const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
    const claimed = await claimTask(db.sql, task.id, 'w');
    expect(await finishTask(db.sql, task.id, claimed!.attempt, outcome('done'))).toBe(true);
    expect(await claimTask(db.sql, task.id, 'w2')).toBeUndefined();
  });
});
