import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startSystem, waitForTerminal, type SystemUnderTest } from '../support/system.js';

// The worker process runs the pruner on its own when retention is configured: a task run for real, then
// made old, disappears within a few rounds; a task that finished just now stays.
let db: TestDatabase;
let model: ScriptedModel;
let sys: SystemUnderTest;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('retention_e2e');
  model.scenario('quick', [{ kind: 'text', text: 'done' }]);
  sys = await startSystem({
    id: testId('retention-e2e'),
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    extraEnv: { AICLI__RETENTION__TASK_DAYS: '30', AICLI__RETENTION__INTERVAL: '200ms' },
  });
});

afterAll(async () => {
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

describe('the worker with retention.task_days set', () => {
  it('deletes a finished task once it is past retention and keeps a recent one', async () => {
    const user = await signUp(sys, 'retention@example.com');
    const ws = (await user.request('POST', '/api/v1/workspaces', { name: 'w' })).json.id as string;
    const old = await user.submitTask(ws, { prompt: scenarioPrompt('quick', 'old') });
    const recent = await user.submitTask(ws, { prompt: scenarioPrompt('quick', 'recent') });
    expect((await waitForTerminal(user, old)).status).toBe('succeeded');
    expect((await waitForTerminal(user, recent)).status).toBe('succeeded');
    const [events] = await db.sql<{ n: number }[]>`select count(*)::int as n from task_events where task_id = ${old}`;
    expect(events?.n).toBeGreaterThan(0);

    await db.sql`update tasks set finished_at = now() - interval '40 days' where id = ${old}`;

    await expect.poll(async () => (await user.request('GET', `/api/v1/tasks/${old}`)).status, { timeout: 15_000, interval: 100 }).toBe(404);
    await sys.proc.waitFor(/"action":"retention_pruned"/, 15_000);
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from task_events where task_id = ${old}`;
    expect(left?.n).toBe(0);
    expect((await user.request('GET', `/api/v1/tasks/${recent}`)).status).toBe(200);
  });
});
