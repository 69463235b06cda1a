import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { REDIS_URL } from '../support/services.js';
import { signUp, startCluster, type Cluster } from '../support/system.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

// A worker SIGKILLed right after a task's terminal transition committed, before any of its effects went
// out: the row is terminal, and the `end` publish and the webhook exist only as the transition's outbox
// row. Another worker's relay must deliver both, the webhook exactly once.
const id = testId('crash');
let db: TestDatabase;
let model: ScriptedModel;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
let cluster: Cluster;
let client: ApiClient;
let subscriber: Redis;
let workspaceId = '';
const published: Array<{ channel: string; event: { seq: number; type: string; payload: any } }> = [];
const crashing: CliProcess[] = [];

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  hooks = await startWebhookReceiver();
  db = await createTestDatabase('crash');
  cluster = await startCluster({ id, dbUrl: db.url, image, modelUrl: model.url, workers: 0, extraEnv: { AICLI__WEBHOOKS__ALLOWED_HOSTS: '127.0.0.1' } });
  client = await signUp({ env: cluster.env, api: cluster.api }, 'crash@example.com');
  workspaceId = (await client.request('POST', '/api/v1/workspaces', { name: 'crash' })).json.id;
  subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  subscriber.on('pmessage', (_pattern: string, channel: string, text: string) => published.push({ channel, event: JSON.parse(text) }));
  await subscriber.psubscribe(`aicli-test-${id}:task:*`);
});

afterAll(async () => {
  for (const p of crashing) p.child.kill('SIGKILL');
  subscriber?.disconnect();
  await cluster?.stop();
  await model?.close();
  await hooks?.close();
  await db?.drop();
});

const endsOf = (taskId: string) => published.filter((p) => p.channel.endsWith(`:task:${taskId}`) && p.event.type === 'end');
const hooksOf = (taskId: string) => hooks.received.filter((h) => h.body.includes(taskId));

describe('a crash between a transition commit and its delivery', () => {
  it('after the restart the end is published and the webhook is delivered exactly once', async () => {
    model.scenario('crash-done', [{ kind: 'text', text: 'done before the crash' }]);
    const worker = spawnCli(['worker'], { ...cluster.env, AICLI_CRASH_AT: 'lifecycle.after_commit:finish' });
    crashing.push(worker);
    await worker.waitFor(/"action":"worker_started"/, 60_000);
    const taskId = await client.submitTask(workspaceId, { prompt: scenarioPrompt('crash-done', 'finish, then crash'), webhook_url: hooks.url });

    expect((await worker.exited).signal).toBe('SIGKILL');
    // Committed: the row is terminal and its end is stored; nothing of it has gone out.
    const task = (await client.request('GET', `/api/v1/tasks/${taskId}`)).json;
    expect(task.status).toBe('succeeded');
    const stored = await db.sql<{ type: string }[]>`select type from task_events where task_id = ${taskId} order by seq desc limit 1`;
    expect(stored[0]?.type).toBe('end');
    const owed = await db.sql<{ transition: string }[]>`select transition from task_outbox where task_id = ${taskId}`;
    expect(owed.map((r) => r.transition)).toEqual(['finish']);
    await subscriber.ping();
    expect(endsOf(taskId)).toHaveLength(0);
    expect(hooksOf(taskId)).toHaveLength(0);

    await cluster.startWorker();
    await expect.poll(() => endsOf(taskId).length, { timeout: 30_000 }).toBe(1);
    expect(endsOf(taskId)[0]?.event.payload).toMatchObject({ status: 'succeeded' });
    await expect.poll(() => hooksOf(taskId).length, { timeout: 30_000 }).toBe(1);
    // Nothing is left to deliver, and the one delivery is the only one recorded.
    await expect.poll(async () => (await db.sql`select count(*)::int as n from task_outbox where task_id = ${taskId}`)[0]?.n, { timeout: 10_000 }).toBe(0);
    const deliveries = await db.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries where task_id = ${taskId}`;
    expect(deliveries[0]?.n).toBe(1);
    expect(hooksOf(taskId)).toHaveLength(1);
    expect(JSON.parse(hooksOf(taskId)[0]!.body).task.status).toBe('succeeded');
  });
});
