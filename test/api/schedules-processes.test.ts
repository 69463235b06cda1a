import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduleQueue, schedulerId, type ScheduleQueue } from '../../src/queue/schedule-queue.js';
import { createTaskQueue, type TaskQueue } from '../../src/queue/task-queue.js';
import { createTestUser } from '../support/api-app.js';
import { ApiClient } from '../support/api-client.js';
import { testConfig, testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { pollFor } from '../support/poll.js';
import { spawnCli, type CliProcess } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';

/**
 * Per-second schedules against real `aicli-web api` processes (run `npm run build` first), which take the
 * ticks off the queue: two at once, one killed and replaced, all of them restarted, a duplicated scheduler
 * job, pause, resume, delete, and a scheduler lost from Redis. No worker runs here, so every task a tick
 * makes stays queued and can be counted; workers take no part in ticks.
 */
// Each test spawns or waits on processes and real seconds: its timeout allows for a loaded machine.
const id = testId('schedproc');
let db: TestDatabase;
let env: Record<string, string>;
let apis: CliProcess[] = [];
let client: ApiClient;
let redis: Redis;
let schedules: ScheduleQueue;
let tasks: TaskQueue;

async function startApi(): Promise<CliProcess> {
  const proc = spawnCli(['api'], env);
  apis.push(proc);
  await proc.waitFor(/API listening on http:\/\/[\d.]+:\d+/, 60_000);
  return proc;
}
const urlOf = (proc: CliProcess) => (proc.output().match(/API listening on (http:\/\/[\d.]+:\d+)/) as RegExpMatchArray)[1] as string;

interface Run {
  tick_at: Date;
  status: string;
  task_id: string | null;
}
const runsOf = (scheduleId: string) => db.sql<Run[]>`select tick_at, status, task_id from schedule_runs where schedule_id = ${scheduleId} order by tick_at`;
const tasksIn = (ws: string) => db.sql<{ id: string; created_at: Date }[]>`select id, created_at from tasks where workspace_id = ${ws}`;

/** Waits until the schedule has `n` runs whose tick is after `after` (ms); answers them. */
async function runsAfter(scheduleId: string, after: number, n: number, timeoutMs = 30_000): Promise<Run[]> {
  const got = await pollFor(async () => {
    const later = (await runsOf(scheduleId)).filter((r) => r.tick_at.getTime() > after);
    return later.length >= n ? later : undefined;
  }, timeoutMs);
  if (!got) throw new Error(`schedule ${scheduleId} did not get ${n} runs after ${new Date(after).toISOString()}; it has ${JSON.stringify(await runsOf(scheduleId))}`);
  return got;
}

async function perSecond(name: string): Promise<{ ws: string; schedule: string }> {
  const ws = await client.createWorkspace({ name });
  const res = await client.request('POST', '/api/v1/schedules', { workspace_id: ws, name, cron: '* * * * * *', task: { prompt: `tick of ${name}` } });
  if (res.status !== 201) throw new Error(`schedule not created: ${res.status} ${res.text}`);
  return { ws, schedule: res.json.id as string };
}

beforeAll(async () => {
  db = await createTestDatabase('schedproc');
  env = testEnv(id, db.url, {
    PORT: '0',
    // Nothing runs the tasks here: lift the cap of queued tasks per user (the cap itself: schedules-api.test.ts).
    AICLI__LIMITS__ROLES: '{"user":{"max_concurrent_tasks":100000}}',
    AICLI__SCHEDULES__SYNC_INTERVAL: '1s',
  });
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const config = testConfig(id, db.url);
  schedules = createScheduleQueue(redis, config);
  tasks = createTaskQueue(redis, config);
  await createTestUser(db.sql, 'alice@example.com');
  const first = await startApi();
  await startApi();
  client = new ApiClient(urlOf(first));
  await client.login('alice@example.com', 'correct horse battery');
});

afterAll(async () => {
  await Promise.all(apis.map((p) => p.stop('SIGTERM')));
  await schedules?.obliterate({ force: true }).catch(() => {});
  await tasks?.obliterate({ force: true }).catch(() => {});
  await schedules?.close();
  await tasks?.close();
  redis?.disconnect();
  await db?.drop();
});

describe('per-second schedules on several API processes', () => {
  it('make exactly one task per tick, through a kill, a restart of every process and a duplicated job', async () => {
    const { ws, schedule } = await perSecond('once');
    await runsAfter(schedule, 0, 3);
    // One process killed outright mid-stream, another started in its place.
    const killedAt = Date.now();
    await apis[1]?.stop('SIGKILL');
    await startApi();
    await runsAfter(schedule, killedAt, 3);
    // Every process stopped and new ones started: the scheduler waits in Redis, the rows in Postgres.
    await Promise.all(apis.map((p) => p.stop('SIGTERM')));
    apis = [];
    const restartedAt = Date.now();
    const fresh = await startApi();
    await startApi();
    client = new ApiClient(urlOf(fresh), client.token);
    await runsAfter(schedule, restartedAt, 3);

    // A duplicated scheduler job: a tick already handled comes again (same scheduler, same fire time).
    const handled = (await runsOf(schedule))[1] as Run;
    const jobId = `repeat:${schedulerId(schedule)}:${handled.tick_at.getTime()}`;
    await (await schedules.getJob(jobId))?.remove();
    await schedules.add('schedule-tick', { scheduleId: schedule, version: 1 }, { jobId });
    const state = await pollFor(async () => ((await schedules.getJobState(jobId)) === 'completed' ? 'completed' : undefined), 20_000);
    expect(state).toBe('completed');

    const paused = await client.request('PATCH', `/api/v1/schedules/${schedule}`, { enabled: false });
    expect(paused.status).toBe(200);
    const runs = await runsOf(schedule);
    const made = await tasksIn(ws);
    const created = runs.filter((r) => r.status === 'created');
    // Each run is one fire time (whole seconds, each once), each task belongs to exactly one run, and each has its one job.
    expect(runs.length).toBeGreaterThanOrEqual(9);
    expect(created).toHaveLength(runs.length);
    expect(runs.every((r) => r.tick_at.getTime() % 1000 === 0)).toBe(true);
    expect(new Set(runs.map((r) => r.tick_at.getTime())).size).toBe(runs.length);
    expect(made).toHaveLength(created.length);
    expect(new Set(created.map((r) => r.task_id))).toEqual(new Set(made.map((t) => t.id)));
    for (const t of made) expect(await tasks.getJob(t.id), t.id).toBeDefined();
    // The API shows the same runs.
    const detail = await client.request('GET', `/api/v1/schedules/${schedule}`);
    expect(detail.json.runs[0]).toMatchObject({ status: 'created', tick_at: runs[runs.length - 1]?.tick_at.toISOString() });
  }, 180_000);

  it('pause stops the ticks and resume starts them again; delete stops them for good', async () => {
    // A second schedule keeps ticking throughout: time is measured in its ticks, not slept away.
    const canary = await perSecond('canary');
    const { ws, schedule } = await perSecond('paused');
    await runsAfter(schedule, 0, 2);

    expect((await client.request('PATCH', `/api/v1/schedules/${schedule}`, { enabled: false })).json).toMatchObject({ enabled: false, next_runs: [] });
    const pausedAt = Date.now();
    await runsAfter(canary.schedule, pausedAt, 3);
    expect((await runsOf(schedule)).filter((r) => r.tick_at.getTime() > pausedAt)).toEqual([]);
    expect(await schedules.getJobScheduler(schedulerId(schedule))).toBeUndefined();

    const resumedAt = Date.now();
    const resumed = await client.request('PATCH', `/api/v1/schedules/${schedule}`, { enabled: true });
    expect(resumed.json.next_runs).toHaveLength(5);
    await runsAfter(schedule, resumedAt, 2);

    expect((await client.request('DELETE', `/api/v1/schedules/${schedule}`)).status).toBe(204);
    const deletedAt = Date.now();
    const before = (await tasksIn(ws)).length;
    await runsAfter(canary.schedule, deletedAt, 3);
    expect((await tasksIn(ws)).filter((t) => t.created_at.getTime() > deletedAt)).toEqual([]);
    expect((await tasksIn(ws)).length).toBe(before);
    expect(await schedules.getJobScheduler(schedulerId(schedule))).toBeUndefined();
    expect((await client.request('GET', `/api/v1/schedules/${schedule}`)).status).toBe(404);
  }, 180_000);

  it('a scheduler lost from Redis is made again from the row in Postgres', async () => {
    const { schedule } = await perSecond('lost');
    await runsAfter(schedule, 0, 1);
    await schedules.removeJobScheduler(schedulerId(schedule));
    const lostAt = Date.now();
    // schedules.sync_interval is 1 s here: some process notices and remakes it.
    await runsAfter(schedule, lostAt + 1000, 2);
    expect(await schedules.getJobScheduler(schedulerId(schedule))).toMatchObject({ pattern: '* * * * * *' });
  }, 180_000);
});
