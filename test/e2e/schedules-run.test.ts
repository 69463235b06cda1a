import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { pollFor } from '../support/poll.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { signUp, startCluster, waitForTerminal, type Cluster } from '../support/system.js';
import type { ApiClient } from '../support/api-client.js';

// A per-second schedule through the whole system: two `aicli-web api` processes take the ticks, two
// `aicli-web worker` processes run the tasks with the real claude CLI in the sandbox; the scripted
// Messages API is the only double. (A tick over the owner's caps is recorded as skipped: schedules-api.test.ts.)
const id = testId('schedrun');
let db: TestDatabase;
let model: ScriptedModel;
let sys: Cluster;
let secondApi: CliProcess;
let alice: ApiClient;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('schedrun');
  sys = await startCluster({ id, dbUrl: db.url, image, modelUrl: model.url, workers: 2 });
  secondApi = spawnCli(['api'], sys.env);
  await secondApi.waitFor(/API listening on http:\/\/[\d.]+:\d+/, 60_000);
  alice = await signUp(sys, 'alice@example.com');
});

afterAll(async () => {
  await secondApi?.stop('SIGTERM');
  await sys?.stop();
  await model?.close();
  await db?.drop();
});

describe('a per-second schedule on two API processes and two workers', () => {
  it('runs the task of each tick to the end on the workers, one task per tick', async () => {
    model.scenario('tick', [{ kind: 'text', text: 'tick done' }]);
    const ws = await alice.createWorkspace({ name: 'ticks', source: { type: 'empty' } });
    const made = await alice.request('POST', '/api/v1/schedules', { workspace_id: ws, cron: '* * * * * *', task: { prompt: scenarioPrompt('tick', 'say tick'), max_turns: 2 } });
    expect(made.status, made.text).toBe(201);
    const scheduleId = made.json.id as string;
    const created = await pollFor(async () => {
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from schedule_runs where schedule_id = ${scheduleId} and status = 'created'`;
      return (row?.n ?? 0) >= 6 ? row?.n : undefined;
    }, 120_000);
    expect(created, 'six ticks made tasks').toBeDefined();
    expect((await alice.request('PATCH', `/api/v1/schedules/${scheduleId}`, { enabled: false })).status).toBe(200);

    const runs = await db.sql<{ tick_at: Date; status: string; task_id: string | null; reason: string | null }[]>`
      select tick_at, status, task_id, reason from schedule_runs where schedule_id = ${scheduleId} order by tick_at`;
    const tasks = await db.sql<{ id: string }[]>`select id from tasks where workspace_id = ${ws}`;
    const createdRuns = runs.filter((r) => r.status === 'created');
    expect(new Set(createdRuns.map((r) => r.task_id))).toEqual(new Set(tasks.map((t) => t.id)));
    expect(new Set(runs.map((r) => r.tick_at.getTime())).size).toBe(runs.length);
    const workers = new Set<string>();
    for (const { id: taskId } of tasks) {
      const task = await waitForTerminal(alice, taskId);
      expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
      expect(task.result.text).toBe('tick done');
      expect(task.options).toEqual({ max_turns: 2 });
      const [row] = await db.sql<{ worker_id: string }[]>`select worker_id from tasks where id = ${taskId}`;
      workers.add(row?.worker_id ?? '');
    }
    expect([...workers].every((w) => sys.workers.some((x) => x.workerId === w))).toBe(true);
  });
});
