import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningWithoutEvents } from '../support/lifecycle.js';
import { Redis } from 'ioredis';
import { createApp } from '../../src/api/app.js';
import { createApiResources, type OwnedApiResources } from '../../src/api/resources-factory.js';
import { listen } from '../../src/api/server.js';
import { AccessTokens } from '../../src/auth/jwt.js';
import { insertTask } from '../../src/db/tasks.js';
import { insertWorkspace } from '../../src/db/workspaces.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { EventSink } from '../../workers/worker/event-sink.js';
import { createTestUser } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { REDIS_URL } from '../support/services.js';
import { readSse } from '../support/sse-client.js';

// The SSE seam over a real socket: stored events from Postgres, then live ones published by the worker's
// own EventSink through Redis. No containers: the "worker" here is the real sink driven by the test.
const id = testId('sse');
let db: TestDatabase;
let resources: OwnedApiResources;
let server: Server;
let base = '';
let token = '';
let ownerId = '';
let workspaceId = '';
const publisher = createRedis(REDIS_URL, 'worker', 'test-sse-publisher');
const config = () => testConfig(id, db.url, { events: { heartbeat: '200ms', page_size: 7 } });

beforeAll(async () => {
  db = await createTestDatabase('sse');
  const cfg = config();
  const logger = createLogger(cfg, 'test');
  const tokens = new AccessTokens(cfg.auth.jwt);
  resources = createApiResources(cfg, db.sql, logger, tokens);
  server = await listen(createApp(resources), { ...cfg.server, port: 0 });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const user = await createTestUser(db.sql, 'sse@example.com');
  ownerId = user.id;
  token = await tokens.sign({ sub: user.id, role: 'user' });
  workspaceId = (await insertWorkspace(db.sql, { ownerId, name: 'w', source: { type: 'empty' } })).id;
});

afterAll(async () => {
  await resources?.close();
  await new Promise((r) => server?.close(r));
  publisher.disconnect();
  await db?.drop();
});

async function runningTask() {
  const task = await insertTask(db.sql, { ownerId, workspaceId, prompt: 'p', options: {}, metadata: null });
  const claimed = await runningWithoutEvents(db.sql, task.id, 'test-worker');
  const sink = new EventSink({
    sql: db.sql,
    publisher,
    prefix: config().redis.key_prefix,
    taskId: task.id,
    attempt: claimed.attempt,
    firstSeq: 1,
    logger: createLogger(config(), 'sink'),
    flushMs: 5,
  });
  return { taskId: task.id, sink };
}

const auth = () => ({ authorization: `Bearer ${token}` });
const storedSeqs = async (taskId: string) =>
  (await db.sql<{ seq: number }[]>`select seq from task_events where task_id = ${taskId} order by seq`).map((r) => r.seq);

describe('task events over SSE', () => {
  it('replays stored events, then follows live ones with no gap and no duplicate, and ends after end', async () => {
    const { taskId, sink } = await runningTask();
    for (let i = 0; i < 10; i++) sink.pushOutput('claude', { type: 'assistant', n: i });
    await sink.flush();
    const reading = readSse(`${base}/api/v1/tasks/${taskId}/events?after=3`, auth());
    // Live events while the replay may still be running.
    for (let i = 10; i < 30; i++) {
      sink.pushOutput('claude', { type: 'assistant', n: i });
      if (i % 5 === 0) await sink.flush();
    }
    sink.pushOutput('end', { status: 'succeeded' });
    await sink.close();
    const { events, ended } = await reading;
    expect(ended).toBe(true);
    expect(events.map((e) => e.id)).toEqual((await storedSeqs(taskId)).filter((s) => s > 3));
    expect(events[0]?.data).toEqual({ type: 'assistant', n: 3 });
    expect(events.at(-1)?.event).toBe('end');
  });

  it('resumes with Last-Event-ID after a disconnect and sees every event exactly once', async () => {
    const { taskId, sink } = await runningTask();
    for (let i = 0; i < 5; i++) sink.pushOutput('claude', { n: i });
    await sink.flush();
    const first = await readSse(`${base}/api/v1/tasks/${taskId}/events`, auth(), { stopAfter: (_e, all) => all.length === 3 });
    for (let i = 5; i < 12; i++) sink.pushOutput('claude', { n: i });
    sink.pushOutput('end', { status: 'failed' });
    await sink.close();
    const lastId = first.events.at(-1)!.id!;
    const second = await readSse(`${base}/api/v1/tasks/${taskId}/events`, { ...auth(), 'last-event-id': String(lastId) });
    const all = [...first.events, ...second.events].map((e) => e.id);
    expect(all).toEqual(await storedSeqs(taskId));
  });

  it('fills a gap from Postgres when a publish was lost', async () => {
    const { taskId, sink } = await runningTask();
    sink.pushOutput('claude', { n: 1 });
    await sink.flush();
    const reading = readSse(`${base}/api/v1/tasks/${taskId}/events`, auth());
    await expect.poll(() => resources.hub.channels).toBeGreaterThan(0);
    // Events 2 and 3 are stored but never published; event 4 is published: the reader must fetch 2 and 3.
    await db.sql`insert into task_events (task_id, seq, attempt, type, payload) values
      (${taskId}, 2, 1, 'claude', '{"n":2}'), (${taskId}, 3, 1, 'claude', '{"n":3}')`;
    const late = new EventSink({ sql: db.sql, publisher, prefix: config().redis.key_prefix, taskId, attempt: 1, firstSeq: 4, logger: createLogger(config(), 's') });
    late.pushOutput('end', { status: 'succeeded' });
    await late.close();
    const { events } = await reading;
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4]);
  });

  it('sends comment heartbeats while a task is quiet', async () => {
    const { taskId, sink } = await runningTask();
    sink.pushOutput('claude', { n: 1 });
    await sink.flush();
    // Nothing else happens on this task: the only way to read two comments is the heartbeat.
    const { events, comments } = await readSse(`${base}/api/v1/tasks/${taskId}/events`, auth(), { stopAfterComments: 2 });
    expect(events.map((e) => e.id)).toEqual([1]);
    expect(comments).toEqual(['ping', 'ping']);
    await sink.close();
  });

  it('200 concurrent clients on one task get the same complete sequence through one Redis subscription', async () => {
    const { taskId, sink } = await runningTask();
    const channel = `${config().redis.key_prefix}:task:${taskId}`;
    const clients = Array.from({ length: 200 }, () => readSse(`${base}/api/v1/tasks/${taskId}/events`, auth()));
    const probe = new Redis(REDIS_URL);
    try {
      await expect.poll(async () => Number(((await probe.pubsub('NUMSUB', channel)) as [string, number])[1]), { timeout: 20_000 }).toBe(1);
      // One subscriber connection for this API process, however many clients follow.
      const clientsList = (await probe.client('LIST')) as string;
      const name = `aicli-api-events:${config().redis.key_prefix}`;
      expect(clientsList.split('\n').filter((l) => l.includes(` name=${name} `))).toHaveLength(1);
    } finally {
      probe.disconnect();
    }
    for (let i = 0; i < 50; i++) sink.pushOutput('claude', { n: i });
    sink.pushOutput('end', { status: 'succeeded' });
    await sink.close();
    const results = await Promise.all(clients);
    const expected = await storedSeqs(taskId);
    expect(expected).toHaveLength(51);
    for (const r of results) expect(r.events.map((e) => e.id)).toEqual(expected);
    await expect.poll(() => resources.hub.channels).toBe(0);
  });

  it('pages the same events as JSON for clients that poll, and 404s for other tenants', async () => {
    const { taskId, sink } = await runningTask();
    for (let i = 0; i < 9; i++) sink.pushOutput('claude', { n: i });
    await sink.close();
    const page = await fetch(`${base}/api/v1/tasks/${taskId}/events?format=json&after=2&limit=5`, { headers: auth() });
    const body: any = await page.json();
    expect(body.items.map((e: { seq: number }) => e.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(body.next_after).toBe(7);
    const other = await createTestUser(db.sql, 'other-sse@example.com');
    const otherToken = await new AccessTokens(config().auth.jwt).sign({ sub: other.id, role: 'user' });
    const denied = await fetch(`${base}/api/v1/tasks/${taskId}/events`, { headers: { authorization: `Bearer ${otherToken}` } });
    expect(denied.status).toBe(404);
  });
});
