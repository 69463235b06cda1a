import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/api/app.js';
import {
  createMetrics,
  recordSandboxStart,
  recordTaskFinished,
  recordTaskPickedUp,
  setWorkerBusy,
  setWorkerCapacity,
  type Metrics,
} from '../../src/observability/metrics.js';
import { createRedis, type RedisClient } from '../../src/queue/redis.js';
import { TASK_JOB_NAME } from '../../src/queue/task-queue.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { REDIS_URL } from '../support/services.js';
import { family, parsePromText, sampleValue, type PromExposition } from './ops-prom-text.js';

let db: TestDatabase;
let t: TestApp;
let metrics: Metrics;
let metricsRedis: RedisClient;
let app: ReturnType<typeof createApp>;
const id = testId('opsmetrics');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const ids: string[] = [];
let token = '';
let taskId = '';

async function scrape(target: { request: typeof app.request } = app, headers: Record<string, string> = {}): Promise<PromExposition> {
  const res = await target.request('/metrics', { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePromText(await res.text());
}

/** Drives the task queue into every state by hand: no task worker runs in API tests. */
async function fillQueue(): Promise<void> {
  const queue = t.resources.queue;
  // Ids are prefixed: a bare `delayed` would be the queue's own `<prefix>:<queue>:delayed` key.
  const add = (name: string, opts: Record<string, unknown> = {}) => queue.add(TASK_JOB_NAME, { taskId: name }, { jobId: `job-${name}`, ...opts });
  await add('done');
  await add('broken', { attempts: 1 });
  await add('running');
  const connection = createRedis(REDIS_URL, 'worker', `${id}-manual`);
  const worker = new Worker(queue.name, null, { connection, prefix: t.resources.config.redis.key_prefix, autorun: false });
  try {
    const done = await worker.getNextJob('tok');
    await done!.moveToCompleted('ok', 'tok', false);
    const broken = await worker.getNextJob('tok');
    await broken!.moveToFailed(new Error('test failure'), 'tok', false);
    expect((await worker.getNextJob('tok'))?.id).toBe('job-running');
  } finally {
    await worker.close();
    connection.disconnect();
  }
  // Waiting since two minutes ago; a high-priority job since five; a low-priority one, the oldest, since ten
  // (it runs last, so only a scan of every priority band finds it); a delayed one.
  await add('old-waiting', { timestamp: Date.now() - 120_000 });
  await add('new-waiting');
  await add('urgent', { priority: 1, timestamp: Date.now() - 300_000 });
  await add('later', { priority: 90, timestamp: Date.now() - 600_000 });
  await add('delayed', { delay: 3_600_000 });
}

beforeAll(async () => {
  db = await createTestDatabase('opsmetrics');
  t = buildTestApp(testConfig(id, db.url), db.sql);
  metricsRedis = createRedis(REDIS_URL, 'command', `${id}-metrics`);
  const cfg = t.resources.config;
  metrics = createMetrics({ queues: { redis: metricsRedis, prefix: cfg.redis.key_prefix, names: [cfg.queue.name] } });
  app = createApp({ ...t.resources, metrics });
  await fillQueue();
  const user = await createTestUser(db.sql, 'm@example.com');
  ids.push(user.id);
  const json = async (res: Response | Promise<Response>): Promise<any> => (await res).json();
  token = (
    await json(
      app.request('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'm@example.com', password: 'correct horse battery' }),
      }),
    )
  ).access_token;
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const ws = await json(app.request('/api/v1/workspaces', { method: 'POST', headers: auth, body: JSON.stringify({ name: 'm' }) }));
  const task = await json(app.request('/api/v1/tasks', { method: 'POST', headers: auth, body: JSON.stringify({ workspace_id: ws.id, prompt: 'count me' }) }));
  taskId = task.id;
  ids.push(ws.id, taskId);
  // Requests whose raw paths carry ids, and one that matches no route.
  expect((await app.request(`/api/v1/tasks/${taskId}`, { headers: auth })).status).toBe(200);
  expect((await app.request(`/api/v1/workspaces/${ws.id}`, { headers: auth })).status).toBe(200);
  expect((await app.request(`/api/v1/tasks/${taskId}`)).status).toBe(401);
  expect((await app.request(`/no/such/${taskId}`)).status).toBe(404);

  recordTaskPickedUp(metrics, 2.5);
  recordTaskPickedUp(metrics, 5400);
  recordSandboxStart(metrics, 0.8);
  recordTaskFinished(metrics, {
    status: 'succeeded',
    durationSeconds: 42,
    costUsd: 0.25,
    tokens: { input_tokens: 1200, output_tokens: 300, cache_creation_input_tokens: 0, cache_read_input_tokens: 800 },
  });
  recordTaskFinished(metrics, { status: 'failed', errorCode: 'oom_killed', durationSeconds: 7200 });
  recordTaskFinished(metrics, { status: 'failed', errorCode: 'a-code-nobody-planned' });
  setWorkerCapacity(metrics, 4);
  setWorkerBusy(metrics, 3);
});

afterAll(async () => {
  metricsRedis?.disconnect();
  await t?.close();
  await db?.drop();
});

describe('/metrics', () => {
  it('exposes every metric of the product with its type', async () => {
    const exp = await scrape();
    const expected: Record<string, string> = {
      http_requests_total: 'counter',
      http_request_duration_seconds: 'histogram',
      aicli_queue_jobs: 'gauge',
      aicli_queue_oldest_waiting_age_seconds: 'gauge',
      aicli_tasks_finished_total: 'counter',
      aicli_task_duration_seconds: 'histogram',
      aicli_task_queue_wait_seconds: 'histogram',
      aicli_sandbox_start_seconds: 'histogram',
      aicli_claude_cost_usd_total: 'counter',
      aicli_claude_tokens_total: 'counter',
      aicli_retention_pruned_total: 'counter',
      aicli_worker_busy: 'gauge',
      aicli_worker_capacity: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
      process_resident_memory_bytes: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) expect(exp.types.get(name), name).toBe(type);
  });

  it('labels HTTP metrics with method, route pattern and status code, never a raw path', async () => {
    const exp = await scrape();
    const requests = family(exp, 'http_requests_total');
    for (const s of requests) expect(Object.keys(s.labels).sort()).toEqual(['endpoint', 'method', 'status_code']);
    for (const s of family(exp, 'http_request_duration_seconds')) {
      expect(Object.keys(s.labels).filter((k) => k !== 'le').sort()).toEqual(['endpoint', 'method']);
    }
    expect(sampleValue(exp, 'http_requests_total', { method: 'GET', endpoint: '/api/v1/tasks/:id', status_code: '200' })).toBe(1);
    // The 401 came from the auth middleware: it is counted against the route it was heading to.
    expect(sampleValue(exp, 'http_requests_total', { method: 'GET', endpoint: '/api/v1/tasks/:id', status_code: '401' })).toBe(1);
    expect(sampleValue(exp, 'http_requests_total', { method: 'POST', endpoint: '/api/v1/tasks', status_code: '202' })).toBe(1);
    expect(sampleValue(exp, 'http_requests_total', { method: 'GET', endpoint: 'unmatched', status_code: '404' })).toBe(1);
    const endpoints = new Set(requests.map((s) => s.labels.endpoint));
    for (const e of endpoints) expect(e === 'unmatched' || e?.startsWith('/'), e).toBe(true);
  });

  it('carries no task, user or workspace id in any label', async () => {
    const exp = await scrape();
    expect(ids).toHaveLength(3);
    for (const s of exp.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(UUID.test(v), `${s.name}{${k}="${v}"}`).toBe(false);
        for (const known of ids) expect(v).not.toContain(known);
      }
    }
  });

  it('reports queue gauges equal to queue.getJobCounts(), read at scrape time', async () => {
    const queue = t.resources.queue;
    const counts = await queue.getJobCounts('waiting', 'paused', 'prioritized', 'delayed', 'active', 'failed', 'completed');
    // POST /api/v1/tasks added one prioritized job (every task gets a priority); the rest came from fillQueue().
    expect(counts).toMatchObject({ waiting: 2, prioritized: 3, delayed: 1, active: 1, failed: 1, completed: 1, paused: 0 });
    const exp = await scrape();
    for (const [state, n] of Object.entries(counts)) {
      expect(sampleValue(exp, 'aicli_queue_jobs', { queue: queue.name, state }), state).toBe(n);
    }
    for (const s of family(exp, 'aicli_queue_jobs')) expect(Object.keys(s.labels).sort()).toEqual(['queue', 'state']);
    // The oldest is the low-priority job added "ten minutes ago", behind the urgent one's band.
    const age = sampleValue(exp, 'aicli_queue_oldest_waiting_age_seconds', { queue: queue.name });
    expect(age).toBeGreaterThanOrEqual(600);
    expect(age).toBeLessThan(700);

    await queue.add(TASK_JOB_NAME, { taskId: 'one-more' }, { jobId: 'one-more' });
    expect(sampleValue(await scrape(), 'aicli_queue_jobs', { queue: queue.name, state: 'waiting' })).toBe(counts.waiting! + 1);
  });

  it('reads the queue gauges with one Redis round trip per scrape', async () => {
    const info = String(await metricsRedis.client('INFO'));
    const addr = /addr=(\S+)/.exec(info)?.[1];
    expect(addr).toBeDefined();
    // monitor() opens a connection of its own: both are closed below.
    const monitorBase = new Redis(REDIS_URL);
    const monitor = await monitorBase.monitor();
    const seen: Array<{ source: string; command: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, command: String(args[0]).toLowerCase() }));
    try {
      await scrape();
      // A marker from another connection: MONITOR reports in execution order, so the scrape's commands precede it.
      const marker = `ops-metrics-marker-${id}`;
      const other = new Redis(REDIS_URL);
      await other.echo(marker);
      other.disconnect();
      await vi.waitFor(() => expect(seen.some((s) => s.command === 'echo')).toBe(true));
      const fromScrape = seen.filter((s) => s.source === addr);
      expect(fromScrape.map((s) => s.command)).toEqual(['evalsha']);
    } finally {
      monitor.disconnect();
      monitorBase.disconnect();
    }
  });

  it('records task, sandbox and worker metrics through the recording functions', async () => {
    const exp = await scrape();
    expect(sampleValue(exp, 'aicli_tasks_finished_total', { status: 'succeeded', error_code: 'none' })).toBe(1);
    expect(sampleValue(exp, 'aicli_tasks_finished_total', { status: 'failed', error_code: 'oom_killed' })).toBe(1);
    expect(sampleValue(exp, 'aicli_tasks_finished_total', { status: 'failed', error_code: 'other' })).toBe(1);
    for (const s of family(exp, 'aicli_tasks_finished_total')) expect(Object.keys(s.labels).sort()).toEqual(['error_code', 'status']);
    expect(sampleValue(exp, 'aicli_claude_cost_usd_total')).toBeCloseTo(0.25);
    expect(sampleValue(exp, 'aicli_claude_tokens_total', { type: 'input' })).toBe(1200);
    expect(sampleValue(exp, 'aicli_claude_tokens_total', { type: 'output' })).toBe(300);
    expect(sampleValue(exp, 'aicli_claude_tokens_total', { type: 'cache_read_input' })).toBe(800);
    expect(sampleValue(exp, 'aicli_claude_tokens_total', { type: 'cache_creation_input' })).toBeUndefined();
    // Buckets reach hours: a 90-minute wait lands under 2 h, not only in +Inf.
    expect(sampleValue(exp, 'aicli_task_queue_wait_seconds_bucket', { le: '3600' })).toBe(1);
    expect(sampleValue(exp, 'aicli_task_queue_wait_seconds_bucket', { le: '7200' })).toBe(2);
    expect(sampleValue(exp, 'aicli_task_duration_seconds_count', { status: 'failed' })).toBe(1);
    expect(sampleValue(exp, 'aicli_task_duration_seconds_bucket', { status: 'failed', le: '7200' })).toBe(1);
    expect(sampleValue(exp, 'aicli_sandbox_start_seconds_count')).toBe(1);
    expect(sampleValue(exp, 'aicli_worker_capacity')).toBe(4);
    expect(sampleValue(exp, 'aicli_worker_busy')).toBe(3);
  });

  it('keeps answering when Redis is away: no queue gauges, a counted scrape error', async () => {
    const dead = createRedis('redis://127.0.0.1:1', 'command', `${id}-dead`);
    try {
      const m = createMetrics({ include: { process: false }, queues: { redis: dead, prefix: 'x', names: ['q'], timeoutMs: 500 } });
      const exp = parsePromText(await m.registry.metrics());
      expect(family(exp, 'aicli_queue_jobs')).toEqual([]);
      expect(sampleValue(exp, 'aicli_queue_scrape_errors_total', { queue: 'q' })).toBe(1);
    } finally {
      dead.disconnect();
    }
  });

  it('the app makes its own registry when none is passed, and metrics.bearer_token guards it', async () => {
    const own = await scrape(t.app);
    const queues = new Set(family(own, 'aicli_queue_jobs').map((s) => s.labels.queue));
    expect([...queues].sort()).toEqual([t.resources.queue.name, t.resources.webhooks.name].sort());
    // The API does not export the worker's families.
    expect(own.types.has('aicli_worker_busy')).toBe(false);

    const guarded = createApp({ ...t.resources, config: { ...t.resources.config, metrics: { ...t.resources.config.metrics, bearer_token: 'scrape-secret' } } });
    expect((await guarded.request('/metrics')).status).toBe(401);
    expect((await guarded.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    await scrape(guarded, { authorization: 'Bearer scrape-secret' });
  });
});
