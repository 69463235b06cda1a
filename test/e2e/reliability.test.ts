import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api-client.js';
import { testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ensureTestSandboxImage } from '../support/sandbox-image.js';
import { scenarioPrompt, startScriptedModel, type ScriptedModel } from '../support/scripted-model.js';
import { REDIS_URL } from '../support/services.js';
import { containersOf, signUp, startCluster, taskContainers, waitForTerminal, type Cluster } from '../support/system.js';

// An API process and two separate worker processes with short lock, stall and reap intervals.
const id = testId('rel');
const gitRoot = mkdtempSync(path.join(tmpdir(), 'aicli-git-root-'));
let db: TestDatabase;
let model: ScriptedModel;
let cluster: Cluster;
let alice: ApiClient;
let workspaceId = '';
const LOCK = 4000;
const STALLED = 1000;
const HEARTBEAT_TTL = 3000;
const REAP = 1000;

beforeAll(async () => {
  const image = await ensureTestSandboxImage();
  model = await startScriptedModel();
  db = await createTestDatabase('rel');
  cluster = await startCluster({
    id,
    dbUrl: db.url,
    image,
    modelUrl: model.url,
    workers: 2,
    extraEnv: {
      AICLI__QUEUE__LOCK_DURATION: `${LOCK}ms`,
      AICLI__QUEUE__STALLED_INTERVAL: `${STALLED}ms`,
      AICLI__QUEUE__MAX_STALLED_COUNT: '3',
      AICLI__QUEUE__WORKER_CONCURRENCY: '2',
      AICLI__WORKER__HEARTBEAT_TTL: `${HEARTBEAT_TTL}ms`,
      AICLI__SANDBOX__REAP_INTERVAL: `${REAP}ms`,
      AICLI__SANDBOX__GIT_FILE_ROOT: gitRoot,
      AICLI__LIMITS__ROLES: JSON.stringify({ user: { max_running_tasks: 2, max_running_per_workspace: 10, max_concurrent_tasks: 1000 } }),
      AICLI__RATE_LIMIT__ENABLED: 'false',
    },
  });
  alice = await signUp(cluster, 'alice@example.com');
  workspaceId = (await alice.request('POST', '/api/v1/workspaces', { name: 'rel' })).json.id;
});

afterAll(async () => {
  await cluster?.stop();
  await model?.close();
  await db?.drop();
});

const submit = (client: ApiClient, ws: string, prompt: string) => client.submitTask(ws, { prompt });

const endEvents = async (taskId: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from task_events where task_id = ${taskId} and type = 'end'`)[0]?.n;

describe('crash recovery', () => {
  it('a SIGKILLed worker: another worker completes the task exactly once and the container is reaped in bound', async () => {
    model.scenario('long', [{ kind: 'text', text: 'done after the kill', delayMs: 3000 }]);
    const taskId = await submit(alice, workspaceId, scenarioPrompt('long', 'survive a kill'));
    await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 60_000 }).toBe(1);
    const [row] = await db.sql<{ worker_id: string }[]>`select worker_id from tasks where id = ${taskId}`;
    const victim = cluster.workers.find((w) => w.workerId === row?.worker_id);
    expect(victim).toBeDefined();
    // Besides the running task it holds warm sandboxes (still named for their slots): what its pool keeps while
    // an attempt runs (the rest refills once it is idle).
    const idleOfVictim = async () => (await containersOf('aicli.worker_id', victim!.workerId)).filter((c) => c.Labels['aicli.pool_slot'] && c.Names[0]?.includes('pool_')).length;
    await expect.poll(idleOfVictim, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    victim!.proc.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim!.proc.exited;
    const task = await waitForTerminal(alice, taskId, 120_000);
    expect(task.status).toBe('succeeded');
    expect(task.attempt).toBe(2);
    expect(await endEvents(taskId)).toBe(1);
    expect((await db.sql`select count(*)::int as n from tasks where id = ${taskId}`)[0]?.n).toBe(1);
    // The killed worker's container is gone within heartbeat TTL + reap interval (plus the run's own slack).
    await expect.poll(async () => (await containersOf('aicli.worker_id', victim!.workerId)).length, { timeout: 30_000, interval: 200 }).toBe(0);
    expect(Date.now() - killedAt).toBeLessThan(HEARTBEAT_TTL + REAP + LOCK + 20_000);
    await cluster.startWorker();
  });

  it('two workers given the same job (a lapsed lock): one result applied, the other attempt fenced out', async () => {
    model.scenario('lapse', [{ kind: 'text', text: 'the winner', delayMs: 4000 }]);
    const taskId = await submit(alice, workspaceId, scenarioPrompt('lapse', 'lapse'));
    await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 60_000 }).toBe(1);
    // Simulate a lapsed lock (a long GC pause or a partition): the lock key disappears while attempt 1 runs.
    const redis = new Redis(REDIS_URL);
    try {
      const lockKey = `aicli-test-${id}:tasks-${id}:${taskId}:lock`;
      await expect.poll(async () => redis.del(lockKey), { timeout: 10_000 }).toBe(1);
      await expect.poll(async () => (await db.sql`select attempt from tasks where id = ${taskId}`)[0]?.attempt, { timeout: 30_000, interval: 200 }).toBe(2);
      // The stalled attempt 1 keeps running; once it ends, none of its writes may land.
      await expect.poll(async () => (await taskContainers(taskId)).length, { timeout: 60_000 }).toBe(0);
      const task = await waitForTerminal(alice, taskId, 60_000);
      expect(task.status).toBe('succeeded');
      expect(task.attempt).toBe(2);
      expect(await endEvents(taskId)).toBe(1);
      const [end] = await db.sql<{ attempt: number }[]>`select attempt from task_events where task_id = ${taskId} and type = 'end'`;
      expect(end?.attempt).toBe(2);
      await expect.poll(() => /"action":"(finish_fenced|events_fenced)"/.test(cluster.workers.map((w) => w.proc.output()).join('\n')), { timeout: 30_000 }).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});

describe('poison tasks and fairness', () => {
  it('a poison task fails after the configured attempts while 20 normal tasks after it all succeed', async () => {
    const poisonWs = (await alice.request('POST', '/api/v1/workspaces', {
      name: 'poison',
      source: { type: 'git', url: `file://${path.join(gitRoot, 'missing-repo.git')}` },
    })).json.id as string;
    model.scenario('normal', [{ kind: 'text', text: 'fine' }]);
    const poison = await submit(alice, poisonWs, scenarioPrompt('normal', 'poison'));
    const bob = await signUp(cluster, 'bob@example.com');
    const bobWs = (await bob.request('POST', '/api/v1/workspaces', { name: 'b' })).json.id as string;
    const normal: Array<[ApiClient, string]> = [];
    for (let i = 0; i < 20; i++) {
      const [client, ws] = i % 2 ? [bob, bobWs] : [alice, workspaceId];
      normal.push([client, await submit(client, ws, scenarioPrompt('normal', `n${i}`))]);
    }
    const poisoned = await waitForTerminal(alice, poison, 120_000);
    expect(poisoned.status).toBe('failed');
    expect(poisoned.error.code).toBe('sandbox_error');
    expect(poisoned.error.message).toMatch(/git clone failed/);
    expect(poisoned.attempt).toBe(3);
    expect(poisoned.attempt_errors).toHaveLength(3);
    for (const [client, taskId] of normal) expect((await waitForTerminal(client, taskId, 180_000)).status).toBe('succeeded');
  });

  it("with a running limit of 2, a second user's tasks start before the first user's backlog drains", async () => {
    model.scenario('work', [{ kind: 'text', text: 'worked', delayMs: 400 }]);
    const carol = await signUp(cluster, 'carol@example.com');
    const dave = await signUp(cluster, 'dave@example.com');
    const carolWs = (await carol.request('POST', '/api/v1/workspaces', { name: 'c' })).json.id as string;
    const daveWs = (await dave.request('POST', '/api/v1/workspaces', { name: 'd' })).json.id as string;
    const flood: string[] = [];
    for (let i = 0; i < 30; i++) flood.push(await submit(carol, carolWs, scenarioPrompt('work', `flood ${i}`)));
    const few: string[] = [];
    for (let i = 0; i < 3; i++) few.push(await submit(dave, daveWs, scenarioPrompt('work', `few ${i}`)));
    for (const t of few) expect((await waitForTerminal(dave, t, 180_000)).status).toBe('succeeded');
    const [daveLast] = await db.sql<{ at: Date }[]>`select max(started_at) as at from tasks where id = any(${few})`;
    const [carolLeft] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from tasks where id = any(${flood}) and (started_at is null or started_at > ${daveLast!.at})`;
    // When dave's last task started, carol still had a backlog that had not even started.
    expect(carolLeft!.n).toBeGreaterThan(0);
    for (const t of flood) expect((await waitForTerminal(carol, t, 240_000)).status).toBe('succeeded');
    // Carol never had more than two running at once: the deferral kept her within her limit.
    const overlaps = await db.sql<{ n: number }[]>`
      select max(c)::int as n from (
        select (select count(*) from tasks b where b.id = any(${flood}) and b.started_at <= a.started_at and b.finished_at > a.started_at) as c
        from tasks a where a.id = any(${flood})) s`;
    expect(overlaps[0]!.n).toBeLessThanOrEqual(2);
  });
});
