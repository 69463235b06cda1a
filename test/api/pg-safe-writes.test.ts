import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDataException, isTransientDbError } from '../../src/db/retry.js';
import { saveArtifact, loadArtifact } from '../../src/db/task-artifacts.js';
import { insertTaskEvents } from '../../src/db/task-events.js';
import { insertTask } from '../../src/db/tasks.js';
import type { ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createTestUser } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// Every write of agent-controlled strings, fed U+0000 and lone surrogates as a hostile agent prints them:
// Postgres would refuse each with a data exception (22021 text, 22P05 / 22P02 jsonb). Each must store, with
// those characters as U+FFFD.
const HOSTILE = 'nul\u0000 high\ud800 low\udfff pair\ud83d\ude00';
const STORED = 'nul\uFFFD high\uFFFD low\uFFFD pair\ud83d\ude00';

let db: TestDatabase;
let lc: TestLifecycle;
let ownerId = '';
let workspaceId = '';

beforeAll(async () => {
  db = await createTestDatabase('pgsafe');
  lc = createTestLifecycle(db.sql, db.url, 'pgsafe');
  ownerId = (await createTestUser(db.sql, 'pgsafe@example.com')).id;
  workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
});
afterAll(async () => {
  await lc?.close();
  await db?.drop();
});

async function runningTask(): Promise<ClaimedTask> {
  const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
  return claim(task.id, 'worker-a');
}

async function claim(id: string, worker: string): Promise<ClaimedTask> {
  const c = await lc.lifecycle.claim(id, worker);
  if (c.kind !== 'claimed') throw new Error(`not claimed: ${c.kind}`);
  return c.task;
}

describe('agent strings that Postgres cannot hold', () => {
  it('task events: values and keys', async () => {
    const t = await runningTask();
    const written = await insertTaskEvents(db.sql, t.lease, [{ seq: t.nextSeq, type: 'claude', payload: { text: HOSTILE, [HOSTILE]: [HOSTILE] } }]);
    expect(written).toBe(1);
    const [row] = await db.sql<{ payload: any }[]>`select payload from task_events where task_id = ${t.id} and type = 'claude'`;
    expect(row?.payload).toEqual({ text: STORED, [STORED]: [STORED] });
  });

  it('the terminal row: result, error message, usage and diff', async () => {
    const t = await runningTask();
    const applied = await lc.lifecycle.finish(t.lease, {
      status: 'failed',
      result: { text: HOSTILE, usage: { [HOSTILE]: 1 } },
      errorCode: 'claude_error',
      errorMessage: HOSTILE,
      exitCode: 1,
      usage: { models: { [HOSTILE]: { output_tokens: 1 } } },
      diff: `+${HOSTILE}\n`,
      diffTruncated: false,
    });
    expect(applied).toBe(true);
    const [row] = await db.sql<{ result: any; error_message: string; usage: any; diff: string }[]>`
      select result, error_message, usage, diff from tasks where id = ${t.id}`;
    expect(row?.result).toEqual({ text: STORED, usage: { [STORED]: 1 } });
    expect(row?.error_message).toBe(STORED);
    expect(row?.usage).toEqual({ models: { [STORED]: { output_tokens: 1 } } });
    expect(row?.diff).toBe(`+${STORED}\n`);
  });

  it('attempt errors of a retried and of a failed attempt', async () => {
    const t = await runningTask();
    expect(await lc.lifecycle.retry(t.lease, { code: 'sandbox_error', message: HOSTILE })).toBe(true);
    const again = await claim(t.id, 'worker-b');
    expect(await lc.lifecycle.fail(again.lease, { code: 'sandbox_error', message: HOSTILE })).toBe(true);
    const [row] = await db.sql<{ error_message: string; attempt_errors: Array<{ message: string }> }[]>`
      select error_message, attempt_errors from tasks where id = ${t.id}`;
    expect(row?.error_message).toBe(STORED);
    expect(row?.attempt_errors.map((e) => e.message)).toEqual([STORED, STORED]);
  });

  it('the transcript artifact', async () => {
    const t = await runningTask();
    expect(await saveArtifact(db.sql, { taskId: t.id, attempt: t.attempt, kind: 'transcript', body: `{"x":1}\n${HOSTILE}\n`, truncated: false })).toBe(true);
    expect((await loadArtifact(db.sql, t.id, 'transcript'))?.body).toBe(`{"x":1}\n${STORED}\n`);
  });
});

describe('isDataException', () => {
  const refusal = (run: () => Promise<unknown>) => run().then(() => null, (err: unknown) => err);

  it('is true for the data exceptions Postgres answers unsanitised agent strings with (class 22), and only for them', async () => {
    // As literals: a parameter cast to jsonb would be serialised by the driver as a JSON string of its own.
    const nulJson = await refusal(() => db.sql.unsafe(`select '"\\u0000"'::jsonb`));
    const loneSurrogateJson = await refusal(() => db.sql.unsafe(`select '"\\ud800"'::jsonb`));
    const nulText = await refusal(() => db.sql.unsafe(`select convert_from('\\x00'::bytea, 'UTF8')`));
    expect([nulJson, loneSurrogateJson, nulText].map((err) => (err as { code?: string }).code)).toEqual(['22P05', '22P02', '22021']);
    for (const err of [nulJson, loneSurrogateJson, nulText]) {
      expect(isDataException(err)).toBe(true);
      expect(isTransientDbError(err)).toBe(false);
    }
    const t = await runningTask();
    const duplicate = await refusal(() => db.sql`insert into tasks (id, owner_id, workspace_id, prompt, options) values (${t.id}, ${ownerId}, ${workspaceId}, 'p', '{}')`);
    expect((duplicate as { code?: string }).code).toBe('23505');
    expect(isDataException(duplicate)).toBe(false);
    expect(isDataException(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isDataException(Object.assign(new Error('not postgres'), { code: '22P05' }))).toBe(false);
  });
});
