import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisReady } from '../../src/auth/redis-ready.js';
import { configSchema } from '../../src/config/index.js';
import { createRedis, type RedisClient } from '../../src/queue/redis.js';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { redisCli, startRedisSentinel, type SentinelTopology } from '../support/redis-servers.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { readSse } from '../support/sse-client.js';
import { signUp, startCluster, waitForTerminal, type Cluster } from '../support/system.js';
import { cancelRunning, runAndStream, type FlowContext } from './task-flows.js';

// A master and one replica under 3 sentinels, all real redis-server processes on loopback, and the real
// API and two worker processes on it (redis.sentinel.name + nodes): tasks submitted, run, streamed and
// cancelled; then a failover (SENTINEL FAILOVER) in the middle of a run loses no task and doubles none.

const id = testId('rsentinel');
const STEPS = 3;
let topology: SentinelTopology;
let db: TestDatabase;
let model: ScriptedModel;
let sys: Cluster;
let client: ApiClient;
let flow: FlowContext;
const connections: RedisClient[] = [];

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  topology = await startRedisSentinel(`aicli-${id}`);
  model = await startScriptedModel();
  db = await createTestDatabase('rsentinel');
  const settings = configSchema.parse({ redis: { sentinel: { name: topology.name, nodes: topology.sentinelNodes }, key_prefix: `aicli-test-${id}` } }).redis;
  sys = await startCluster({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    workers: 2,
    extraEnv: {
      REDIS_URL: '',
      AICLI__REDIS__SENTINEL__NAME: topology.name,
      AICLI__REDIS__SENTINEL__NODES: topology.sentinelNodes.join(','),
      AICLI__WORKER__POOL_SIZE: '0',
      AICLI__QUEUE__WORKER_CONCURRENCY: '2',
      AICLI__WORKER__CANCEL_POLL_INTERVAL: '60s',
    },
  });
  client = await signUp({ env: sys.env, api: sys.api }, 'sentinel@example.com');
  const workspaceId = (await client.request('POST', '/api/v1/workspaces', { name: 'sentinel' })).json.id as string;
  const subscriber = createRedis(settings, 'subscriber', `${id}-test-subscriber`);
  connections.push(subscriber);
  if (!(await redisReady(subscriber, 10_000))) throw new Error('the test subscriber did not reach the master through the sentinels');
  flow = { client, workspaceId, db, model, prefix: settings.key_prefix, subscriber };
});

afterAll(async () => {
  for (const r of connections) r.disconnect();
  await sys?.stop();
  await model?.close();
  await db?.drop();
  await topology?.stop();
});

/** POST /tasks, retried with the same Idempotency-Key while the API answers 503 (Redis switching masters). */
async function submitThroughFailover(label: string): Promise<{ taskId: string; refusals: number }> {
  const key = `${id}-${label}`;
  let refusals = 0;
  for (const deadline = Date.now() + 60_000; ; ) {
    const res = await client.request('POST', '/api/v1/tasks', { workspace_id: flow.workspaceId, prompt: scenarioPrompt(label, 'slow steps') }, { 'idempotency-key': key });
    if (res.status === 201 || res.status === 202 || res.status === 200) return { taskId: res.json.id as string, refusals };
    if (res.status !== 503 || Date.now() > deadline) throw new Error(`submit ${label}: HTTP ${res.status} ${res.text}`);
    refusals++;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const slowSteps = (label: string) =>
  model.scenario(
    label,
    Array.from({ length: STEPS }, (_, i) =>
      i < STEPS - 1
        ? { kind: 'tool' as const, name: 'Bash', input: { command: `echo ${i}`, description: `step ${i}` }, delayMs: 1000 }
        : { kind: 'text' as const, text: `${label} done`, delayMs: 500 },
    ),
  );

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

describe('on a master and a replica under 3 sentinels', () => {
  it('a task runs and streams over SSE, fed by pub/sub through the master the sentinels name', async () => {
    await runAndStream(flow, 'se-stream');
  });

  it('a running task is cancelled through the control channel', async () => {
    await cancelRunning(flow, 'se-cancel');
  });

  it('a failover in the middle of a run loses no task and doubles none', async () => {
    // The same work without a failover, for comparison.
    slowSteps('se-baseline');
    const baseline = await submitThroughFailover('se-baseline');
    expect((await waitForTerminal(client, baseline.taskId, 120_000)).status).toBe('succeeded');
    const [base] = await db.sql<{ run_ms: number }[]>`select extract(epoch from (finished_at - started_at)) * 1000 as run_ms from tasks where id = ${baseline.taskId}`;

    const before = await topology.masterPort();
    // Five: the user role's cap on queued and running tasks (limits.roles.user.max_concurrent_tasks).
    const labels = Array.from({ length: 5 }, (_, i) => `se-fo-${i}`);
    labels.forEach(slowSteps);
    const tasks: Array<{ label: string; taskId: string; refusals: number }> = [];
    for (const label of labels.slice(0, 3)) tasks.push({ label, ...(await submitThroughFailover(label)) });
    // A stream followed across the failover.
    const streamed = tasks[0]!.taskId;
    const stream = readSse(`${client.baseUrl}/api/v1/tasks/${streamed}/events`, { authorization: `Bearer ${client.token}` });
    await expect.poll(async () => (await db.sql`select count(*)::int as n from tasks where id = any(${tasks.map((t) => t.taskId)}) and status = 'running'`)[0]?.n, { timeout: 90_000 }).toBeGreaterThan(0);

    const failoverAt = Date.now();
    expect((await redisCli(topology.sentinels[0]!.port, 'sentinel', 'failover', topology.name)).trim()).toBe('OK');
    // Two more submitted while the sentinels switch masters.
    for (const label of labels.slice(3)) tasks.push({ label, ...(await submitThroughFailover(label)) });
    await expect.poll(() => topology.masterPort(), { timeout: 60_000 }).not.toBe(before);
    const switchedMs = Date.now() - failoverAt;

    const finished = await Promise.all(tasks.map((t) => waitForTerminal(client, t.taskId, 240_000)));
    expect(finished.map((t) => t.status)).toEqual(tasks.map(() => 'succeeded'));
    // Lost: none (every task succeeded). Doubled: none: one attempt each, and the model answered each step once.
    const rows = await db.sql<{ id: string; attempt: number; wait_ms: number; run_ms: number }[]>`
      select id, attempt,
             extract(epoch from (started_at - created_at)) * 1000 as wait_ms,
             extract(epoch from (finished_at - started_at)) * 1000 as run_ms
      from tasks where id = any(${tasks.map((t) => t.taskId)})`;
    expect(rows.map((r) => r.attempt)).toEqual(tasks.map(() => 1));
    for (const t of tasks) {
      const answered = model.requestsFor(t.label).filter((r) => r.step !== null).map((r) => r.step);
      expect(answered, t.label).toEqual(Array.from({ length: STEPS }, (_, i) => i));
    }
    const ended = await stream;
    const stored = (await db.sql<{ seq: number }[]>`select seq from task_events where task_id = ${streamed} order by seq`).map((r) => r.seq);
    expect(ended.events.map((e) => e.id)).toEqual(stored);
    expect(ended.events.at(-1)?.event).toBe('end');

    // Every stored event of every task came from its one attempt.
    const attempts = await db.sql<{ attempt: number }[]>`select distinct attempt from task_events where task_id = any(${tasks.map((t) => t.taskId)})`;
    expect(attempts.map((a) => a.attempt)).toEqual([1]);

    const byId = new Map(rows.map((r) => [r.id, r]));
    const duringFailover = tasks.slice(3).map((t) => byId.get(t.taskId)!);
    const ms = (xs: number[]) => ({ median: Math.round(median(xs)), max: Math.round(Math.max(...xs)) });
    const figures = {
      master_switch_ms: switchedMs,
      submit_503s: tasks.reduce((n, t) => n + t.refusals, 0),
      // Queued → started (with 4 worker slots for 5 tasks, the fifth also waits for a slot).
      wait_ms_all: ms(rows.map((r) => Number(r.wait_ms))),
      wait_ms_submitted_during_failover: ms(duringFailover.map((r) => Number(r.wait_ms))),
      run_ms_baseline: Math.round(Number(base!.run_ms)),
      run_ms_through_failover: ms(tasks.slice(0, 3).map((t) => Number(byId.get(t.taskId)!.run_ms))),
      wait_ms_each: tasks.map((t) => Math.round(Number(byId.get(t.taskId)!.wait_ms))),
      // Jobs a failover lost (added to the old master in its last moments) come back through the reconciler.
      reenqueued_by_reconciler: sys.workers
        .flatMap((w) => w.proc.output().split('\n'))
        .filter((line) => line.includes('"action":"reconciled"') && tasks.some((t) => line.includes(t.taskId))).length,
      lost: tasks.length - finished.filter((t) => t.status === 'succeeded').length,
      doubled: rows.filter((r) => r.attempt !== 1).length,
    };
    console.log(`sentinel failover figures: ${JSON.stringify(figures)}`);
    expect(await topology.masterPort()).toBe(topology.replica.port);
  });
});
