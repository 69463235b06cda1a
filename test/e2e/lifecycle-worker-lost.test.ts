import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { pollFor } from '../support/poll.js';
import type { CliProcess } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { removeContainersOf, signUp, startCluster, type Cluster } from '../support/system.js';
import { isEnd, subscribeTaskChannel, type TaskChannelSubscriber } from '../support/task-channel.js';
import { waitForAgentStarted } from '../support/task-events.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';
import { tasksFinished, workerMetricsPort } from '../support/worker-metrics.js';

// A task whose job stalled past queue.max_stalled_count is failed with worker_lost by the worker that finds
// it. That terminal state must reach everyone a normal finish reaches: the task's Redis channel, the
// webhook and the finished-tasks counter. Two workers, one job each; a stall is a worker frozen by SIGSTOP.
const id = testId('lost');
const LOCK_MS = 3000;
const STALLED_MS = 1000;
let db: TestDatabase;
let model: ScriptedModel;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
let cluster: Cluster;
let alice: ApiClient;
let workspaceId = '';
let frozen: { proc: CliProcess; workerId: string } | null = null;
let channel: TaskChannelSubscriber | null = null;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  hooks = await startWebhookReceiver();
  db = await createTestDatabase('lost');
  cluster = await startCluster({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    workers: 2,
    extraEnv: {
      AICLI__QUEUE__LOCK_DURATION: `${LOCK_MS}ms`,
      AICLI__QUEUE__STALLED_INTERVAL: `${STALLED_MS}ms`,
      // The first stall already exceeds the limit: the job is failed instead of run again.
      AICLI__QUEUE__MAX_STALLED_COUNT: '0',
      AICLI__QUEUE__WORKER_CONCURRENCY: '1',
      AICLI__WEBHOOKS__ALLOWED_HOSTS: '127.0.0.1',
      AICLI__WEBHOOKS__BACKOFF_DELAY: '100ms',
    },
  });
  alice = await signUp(cluster, 'alice@example.com');
  workspaceId = await alice.createWorkspace({ name: 'lost' });
});

afterEach(async () => {
  channel?.close();
  channel = null;
  if (frozen) {
    // A stopped process ignores SIGTERM until continued; SIGKILL ends it either way.
    frozen.proc.child.kill('SIGCONT');
    await frozen.proc.stop('SIGKILL');
    await removeContainersOf('aicli.worker_id', frozen.workerId);
    frozen = null;
  }
});

afterAll(async () => {
  await cluster?.stop();
  await removeContainersOf('aicli.test_id', id);
  await model?.close();
  await hooks?.close();
  await db?.drop();
});

describe('a task failed as worker_lost (stalled past queue.max_stalled_count)', () => {
  it('publishes its end event, sends one webhook and is counted as finished by the worker that failed it', async () => {
    model.scenario('frozen', [{ kind: 'text', text: 'never answered in time', delayMs: 120_000 }]);
    const taskId = await alice.submitTask(workspaceId, { prompt: scenarioPrompt('frozen', 'freeze my worker'), webhook_url: hooks.url });
    channel = await subscribeTaskChannel(cluster.env.AICLI__REDIS__KEY_PREFIX as string, taskId);
    // The agent has started: the job is active and its lock held.
    await waitForAgentStarted(db.sql, taskId);
    const [row] = await db.sql<{ worker_id: string }[]>`select worker_id from tasks where id = ${taskId} and status = 'running'`;
    const holder = cluster.workers.find((w) => w.workerId === row?.worker_id);
    const finder = cluster.workers.find((w) => w.workerId !== row?.worker_id);
    expect(holder, 'the running task names one of the two workers').toBeDefined();
    const finderPort = workerMetricsPort(finder!.proc);
    const countedBefore = await tasksFinished(finderPort, { status: 'failed', error_code: 'worker_lost' });

    frozen = holder!;
    frozen.proc.child.kill('SIGSTOP');
    // The frozen worker's lock lapses; the other worker's stalled check fails the job.
    await expect
      .poll(async () => (await db.sql`select status, error_code from tasks where id = ${taskId}`)[0], { timeout: 60_000, interval: 200 })
      .toEqual({ status: 'failed', error_code: 'worker_lost' });

    const [published, delivered, counted] = await Promise.all([
      pollFor(async () => channel!.events.find(isEnd), 15_000),
      pollFor(async () => {
        const mine = hooks.received.filter((h) => h.body.includes(taskId));
        return mine.length > 0 ? mine : undefined;
      }, 15_000),
      pollFor(async () => {
        const n = await tasksFinished(finderPort, { status: 'failed', error_code: 'worker_lost' });
        return n > countedBefore ? n - countedBefore : undefined;
      }, 15_000),
    ]);
    expect.soft(published?.payload, 'an end event published on the task channel').toMatchObject({ status: 'failed', error: { code: 'worker_lost' } });
    expect.soft(delivered?.length, 'webhook deliveries for the task').toBe(1);
    if (delivered?.[0]) expect.soft(JSON.parse(delivered[0].body)).toMatchObject({ task: { id: taskId, status: 'failed' } });
    expect.soft(counted, 'aicli_tasks_finished_total{status="failed",error_code="worker_lost"} increase on the worker that failed it').toBe(1);
  });
});
