import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startExtraWorker, startSystem, taskContainers } from '../support/system.js';

// Graceful shutdown: SIGTERM stops taking jobs, lets running tasks finish until the drain deadline, then
// releases them (without spending an attempt) so another worker runs them; the process exits 0.
let db: TestDatabase;
let model: ScriptedModel;
let image = '';

beforeAll(async () => {
  image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('shutdown');
  model.scenario('three-seconds', [{ kind: 'text', text: 'finished after three seconds', delayMs: 3000 }]);
});

afterAll(async () => {
  await model?.close();
  await db?.drop();
});

const statusOf = async (taskId: string) => (await db.sql<{ status: string }[]>`select status from tasks where id = ${taskId}`)[0]?.status;

async function submitRunning(sys: Awaited<ReturnType<typeof startSystem>>, email: string) {
  const user = await signUp(sys, email);
  const ws = (await user.request('POST', '/api/v1/workspaces', { name: 'w' })).json.id;
  const res = await user.request('POST', '/api/v1/tasks', { workspace_id: ws, prompt: scenarioPrompt('three-seconds', 'slow') });
  const taskId = res.json.id as string;
  await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 60_000 }).toBe(1);
  return taskId;
}

describe('SIGTERM to a worker running a task', () => {
  it('with a 10 s deadline the task finishes and the process exits 0', async () => {
    const sys = await startSystem({ id: testId('drain'), dbUrl: db.url, image, modelUrl: model.url, extraEnv: { AICLI__WORKER__SHUTDOWN_DEADLINE: '10s' } });
    try {
      const taskId = await submitRunning(sys, 'drain@example.com');
      const exit = await sys.proc.stop('SIGTERM');
      expect(exit.code).toBe(0);
      expect(await statusOf(taskId)).toBe('succeeded');
      const [row] = await db.sql`select attempt, attempt_errors from tasks where id = ${taskId}`;
      expect(row).toMatchObject({ attempt: 1, attempt_errors: [] });
    } finally {
      await sys.stop();
    }
  });

  it('with a 1 s deadline the task is released and a second worker completes it, never marked failed', async () => {
    const sys = await startSystem({
      id: testId('release'),
      dbUrl: db.url,
      image,
      modelUrl: model.url,
      extraEnv: { AICLI__WORKER__SHUTDOWN_DEADLINE: '1s', AICLI__QUEUE__WORKER_CONCURRENCY: '1' },
    });
    let second: Awaited<ReturnType<typeof startExtraWorker>> | null = null;
    try {
      const taskId = await submitRunning(sys, 'release@example.com');
      // SIGTERM while the attempt runs (starting another worker first would give it time to finish), then
      // the second worker, once the release is visible.
      const exit = await sys.proc.stop('SIGTERM');
      expect(exit.code).toBe(0);
      await expect.poll(() => statusOf(taskId), { timeout: 30_000, interval: 100 }).toBe('queued');
      second = await startExtraWorker(sys);
      await expect.poll(() => statusOf(taskId), { timeout: 90_000, interval: 250 }).toBe('succeeded');
      const [row] = await db.sql<{ attempt: number; attempt_errors: unknown[]; worker_id: string }[]>`
        select attempt, attempt_errors, worker_id from tasks where id = ${taskId}`;
      expect(row?.attempt).toBe(2);
      expect(row?.attempt_errors).toEqual([]);
      expect(row?.worker_id).toBe(second.workerId);
      const statuses = await db.sql<{ status: string }[]>`
        select payload->>'status' as status from task_events where task_id = ${taskId} and type in ('status', 'end') order by seq`;
      expect(statuses.map((s) => s.status)).not.toContain('failed');
      expect(statuses.map((s) => s.status)).toContain('queued');
      // Removed after the terminal write, off its path.
      await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 30_000 }).toBe(0);
    } finally {
      await second?.proc.stop('SIGTERM');
      await sys.stop();
    }
  });
});
