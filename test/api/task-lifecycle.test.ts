import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertTask } from '../../src/db/tasks.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { enqueueTask } from '../../src/queue/task-queue.js';
import { createTaskQueue } from '../../src/queue/task-queue.js';
import { createOutboxRelay, createTaskLifecycle, type ClaimedTask } from '../../src/tasks/lifecycle/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestUser } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createTestLifecycle, type TestLifecycle } from '../support/lifecycle.js';
import { REDIS_URL } from '../support/services.js';

// Every transition through the lifecycle: the row, its events and its outbox row commit together, and
// the relay delivers the outbox (task channel, control channel, webhook job, metrics) at least once.
const id = testId('lifecycle');
let db: TestDatabase;
let lc: TestLifecycle;
let subscriber: Redis;
let ownerId = '';
let workspaceId = '';
const published: Array<{ channel: string; message: any }> = [];

beforeAll(async () => {
  db = await createTestDatabase('lifecycle');
  lc = createTestLifecycle(db.sql, db.url, 'lifecycle', id);
  ownerId = (await createTestUser(db.sql, 'lc@example.com')).id;
  workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
  subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  subscriber.on('pmessage', (_p: string, channel: string, text: string) => published.push({ channel, message: JSON.parse(text) }));
  await subscriber.psubscribe(`${lc.prefix}:*`);
});
afterAll(async () => {
  subscriber?.disconnect();
  await lc?.close();
  await db?.drop();
});

const newTask = (webhookUrl: string | null = 'http://127.0.0.1:9/hook') =>
  insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null, webhookUrl });

async function claimed(taskId: string): Promise<ClaimedTask> {
  const c = await lc.lifecycle.claim(taskId, 'w1');
  if (c.kind !== 'claimed') throw new Error(`not claimed: ${c.kind}`);
  return c.task;
}

/** Everything published so far has arrived once a PING on the same connection is answered. */
async function publishedTo(channelSuffix: string) {
  await subscriber.ping();
  return published.filter((p) => p.channel.endsWith(channelSuffix)).map((p) => p.message);
}

const outboxOf = async (taskId: string) => (await db.sql`select count(*)::int as n from task_outbox where task_id = ${taskId}`)[0]?.n;
const finishedCount = async (status: string, code: string) =>
  (await lc.metrics.registry.getSingleMetric('aicli_tasks_finished_total')?.get())?.values.find((v) => v.labels.status === status && v.labels.error_code === code)?.value ?? 0;

const succeeded = {
  status: 'succeeded' as const,
  result: { text: 'ok' },
  errorCode: null,
  errorMessage: null,
  exitCode: 0,
  usage: { wall_ms: 1500, cost_usd: 0.25 },
  diff: '',
  diffTruncated: false,
};

describe('the task lifecycle', () => {
  it('finish: terminal row, status and end, then the publish, the webhook job and the metric; nothing owed after', async () => {
    const task = await newTask();
    const c = await claimed(task.id);
    const before = await finishedCount('succeeded', 'none');
    expect(await lc.lifecycle.finish(c.lease, succeeded)).toBe(true);

    const channel = await publishedTo(`:task:${task.id}`);
    expect(channel.map((m) => [m.type, m.payload.status])).toEqual([
      ['status', 'running'],
      ['status', 'succeeded'],
      ['end', 'succeeded'],
    ]);
    const stored = await db.sql<{ seq: number; type: string }[]>`select seq, type from task_events where task_id = ${task.id} order by seq`;
    expect(channel.map((m) => m.seq)).toEqual(stored.map((e) => e.seq));
    expect(await lc.webhooks.getJob(`webhook-${task.id}`)).toBeDefined();
    expect(await finishedCount('succeeded', 'none')).toBe(before + 1);
    expect(await outboxOf(task.id)).toBe(0);
  });

  it('markLost: the end is published, the webhook enqueued and the task counted as failed worker_lost', async () => {
    const task = await newTask();
    await claimed(task.id);
    const before = await finishedCount('failed', 'worker_lost');
    expect(await lc.lifecycle.markLost(task.id, 'job stalled more than allowable limit')).toBe(true);
    const ends = (await publishedTo(`:task:${task.id}`)).filter((m) => m.type === 'end');
    expect(ends).toHaveLength(1);
    expect(ends[0].payload).toMatchObject({ status: 'failed', error: { code: 'worker_lost' } });
    expect(await lc.webhooks.getJob(`webhook-${task.id}`)).toBeDefined();
    expect(await finishedCount('failed', 'worker_lost')).toBe(before + 1);
    expect(await lc.lifecycle.markLost(task.id, 'again')).toBe(false);
  });

  it('cancel of a queued task: cancelled with its end published, its job removed, its webhook enqueued', async () => {
    const task = await newTask();
    const queue = createTaskQueue(lc.redis, testConfig(id, db.url));
    await enqueueTask(queue, task.id);
    expect(await queue.getJob(task.id)).toBeDefined();
    expect(await lc.lifecycle.cancel(ownerId, task.id)).toBe('cancelled');
    const [row] = await db.sql`select status, error_code from tasks where id = ${task.id}`;
    expect(row).toMatchObject({ status: 'cancelled', error_code: 'cancelled' });
    expect((await publishedTo(`:task:${task.id}`)).map((m) => m.type)).toEqual(['status', 'end']);
    expect(await queue.getJob(task.id)).toBeUndefined();
    expect(await lc.webhooks.getJob(`webhook-${task.id}`)).toBeDefined();
    expect(await lc.lifecycle.cancel(ownerId, task.id)).toBe('already_finished');
    expect(await lc.lifecycle.cancel(ownerId, '00000000-0000-4000-8000-000000000000')).toBe('missing');
  });

  it('cancel of a running task: the request is recorded on the row and a cancel goes out on the control channel', async () => {
    const task = await newTask(null);
    await claimed(task.id);
    expect(await lc.lifecycle.cancel(ownerId, task.id)).toBe('requested');
    const [row] = await db.sql<{ status: string; cancel_requested_at: Date | null }[]>`select status, cancel_requested_at from tasks where id = ${task.id}`;
    expect(row?.status).toBe('running');
    expect(row?.cancel_requested_at).toBeInstanceOf(Date);
    expect(await publishedTo(':control')).toContainEqual({ type: 'cancel', taskId: task.id });
  });

  it('a delivery that fails (Redis away at commit) leaves the outbox row, and the relay delivers it later', async () => {
    const broken = createTestLifecycle(db.sql, db.url, 'lifecycle-broken', id);
    broken.redis.disconnect();
    const task = await newTask();
    const c = await claimed(task.id);
    expect(await broken.lifecycle.finish(c.lease, succeeded)).toBe(true);
    // The commit stands without its delivery: the row is terminal, the end stored, the effects owed.
    const [row] = await db.sql`select status from tasks where id = ${task.id}`;
    expect(row?.status).toBe('succeeded');
    expect(await outboxOf(task.id)).toBe(1);
    expect((await publishedTo(`:task:${task.id}`)).filter((m) => m.type === 'end')).toHaveLength(0);
    expect(await lc.webhooks.getJob(`webhook-${task.id}`)).toBeUndefined();

    expect(await lc.relay.deliverPending({ olderThanMs: 0, limit: 100 })).toBeGreaterThanOrEqual(1);
    expect((await publishedTo(`:task:${task.id}`)).filter((m) => m.type === 'end')).toHaveLength(1);
    expect(await lc.webhooks.getJob(`webhook-${task.id}`)).toBeDefined();
    expect(await outboxOf(task.id)).toBe(0);
    await broken.close();
  });

  it('a relay that counts no task metrics (the API relay) leaves the count to a worker relay, which counts it once', async () => {
    const logger = createLogger(testConfig(id, db.url), 'api-relay');
    const apiRelay = createOutboxRelay({ sql: db.sql, publisher: lc.redis, prefix: lc.prefix, webhooks: lc.webhooks, logger });
    const api = createTaskLifecycle({ sql: db.sql, relay: apiRelay, logger });
    const task = await newTask();
    const before = await finishedCount('cancelled', 'cancelled');
    expect(await api.cancel(ownerId, task.id)).toBe('cancelled');
    expect((await publishedTo(`:task:${task.id}`)).filter((m) => m.type === 'end')).toHaveLength(1);
    const [owed] = await db.sql<{ effects: any }[]>`select effects from task_outbox where task_id = ${task.id}`;
    expect(owed?.effects).toEqual({ finished: { status: 'cancelled', errorCode: 'cancelled' } });
    expect(await finishedCount('cancelled', 'cancelled')).toBe(before);

    await lc.relay.deliverPending({ olderThanMs: 0, limit: 100 });
    expect(await finishedCount('cancelled', 'cancelled')).toBe(before + 1);
    expect(await outboxOf(task.id)).toBe(0);
    expect((await publishedTo(`:task:${task.id}`)).filter((m) => m.type === 'end')).toHaveLength(1);
  });

  it('a failed transition leaves nothing: a data error in the terminal write stores no end and no outbox row', async () => {
    const task = await newTask();
    const c = await claimed(task.id);
    // exit_code is an integer column: Postgres refuses 2^40 as data (22003) after the events were inserted.
    await expect(lc.lifecycle.finish(c.lease, { ...succeeded, exitCode: 2 ** 40 })).rejects.toMatchObject({ code: '22003' });
    const types = await db.sql<{ type: string }[]>`select type from task_events where task_id = ${task.id} order by seq`;
    expect(types.map((e) => e.type)).toEqual(['status']);
    const [row] = await db.sql`select status from tasks where id = ${task.id}`;
    expect(row?.status).toBe('running');
    // The claim's own row was delivered; the failed finish wrote none.
    expect(await outboxOf(task.id)).toBe(0);
    expect(await lc.lifecycle.fail(c.lease, { code: 'output_rejected', message: 'refused' })).toBe(true);
    const after = await db.sql<{ type: string }[]>`select type from task_events where task_id = ${task.id} order by seq`;
    expect(after.filter((e) => e.type === 'end')).toHaveLength(1);
  });
});
