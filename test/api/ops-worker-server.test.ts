import { createServer } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListenError } from '../../src/net/listen.js';
import { createMetrics, observeWorkerBusy, recordTaskFinished, setWorkerCapacity, taskFinishedOf } from '../../src/observability/metrics.js';
import { createRedis } from '../../src/queue/redis.js';
import { startWorkerOpsServer, type WorkerOpsServer } from '../../workers/worker/ops-server.js';
import { PG_ADMIN_URL, REDIS_URL } from '../support/services.js';
import { parsePromText, sampleValue } from './ops-prom-text.js';

const metrics = createMetrics({ include: { http: false } });
const redis = createRedis(REDIS_URL, 'command', 'ops-worker-server-test');
const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
let draining = false;
let running = 1;
let ops: WorkerOpsServer;
const base = () => `http://127.0.0.1:${ops.port}`;

beforeAll(async () => {
  setWorkerCapacity(metrics, 2);
  observeWorkerBusy(metrics, () => running);
  ops = await startWorkerOpsServer({
    port: 0,
    host: '127.0.0.1',
    metrics,
    checks: { postgres: () => sql`select 1`, redis: () => redis.ping() },
    isDraining: () => draining,
  });
});

afterAll(async () => {
  await ops?.close();
  redis.disconnect();
  await sql.end({ timeout: 5 });
});

describe('worker ops listener', () => {
  it('serves the worker metrics on /metrics', async () => {
    const res = await fetch(`${base()}/metrics`);
    expect(res.status).toBe(200);
    const exp = parsePromText(await res.text());
    expect(exp.types.get('aicli_tasks_finished_total')).toBe('counter');
    expect(sampleValue(exp, 'aicli_worker_capacity')).toBe(2);
    expect(sampleValue(exp, 'aicli_worker_busy')).toBe(1);
    // Busy is read at scrape time from the worker's own count.
    running = 2;
    expect(sampleValue(parsePromText(await (await fetch(`${base()}/metrics`)).text()), 'aicli_worker_busy')).toBe(2);
    expect(exp.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    // The worker does not serve HTTP metrics of its own.
    expect(exp.types.has('http_requests_total')).toBe(false);
  });

  it('records a terminal write as run-task.ts builds it (taskFinishedOf, as the outbox carries it)', async () => {
    recordTaskFinished(
      metrics,
      taskFinishedOf({
        status: 'failed',
        errorCode: 'budget_exceeded',
        usage: { wall_ms: 90_000, cost_usd: 1.5, input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 7, requests: 2 },
        result: { total_cost_usd: 9.99 },
      }),
    );
    const exp = parsePromText(await (await fetch(`${base()}/metrics`)).text());
    expect(sampleValue(exp, 'aicli_tasks_finished_total', { status: 'failed', error_code: 'budget_exceeded' })).toBe(1);
    // The gateway's metered cost wins over the CLI's own figure.
    expect(sampleValue(exp, 'aicli_claude_cost_usd_total')).toBe(1.5);
    expect(sampleValue(exp, 'aicli_claude_tokens_total', { type: 'cache_read_input' })).toBe(7);
    expect(sampleValue(exp, 'aicli_task_duration_seconds_sum', { status: 'failed' })).toBe(90);
  });

  it('answers /healthz and /readyz with each dependency and its latency', async () => {
    expect(await (await fetch(`${base()}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base()}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as any;
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['postgres', 'redis']);
    expect(body.checks.redis).toMatchObject({ ok: true });
  });

  it('is not ready while draining or when a dependency fails', async () => {
    draining = true;
    try {
      const res = await fetch(`${base()}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).status).toBe('draining');
    } finally {
      draining = false;
    }
    const failing = await startWorkerOpsServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      checks: { docker: () => Promise.reject(new Error('connect ENOENT /var/run/docker.sock')), slow: () => new Promise(() => {}) },
      checkTimeoutMs: 200,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${failing.port}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.checks.docker).toMatchObject({ ok: false, error: 'connect ENOENT /var/run/docker.sock' });
      expect(body.checks.slow).toMatchObject({ ok: false, error: 'no answer within 200 ms' });
    } finally {
      await failing.close();
    }
  });

  it('answers 404 elsewhere', async () => {
    expect((await fetch(`${base()}/api/v1/tasks`)).status).toBe(404);
  });

  it('names the key to change when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const start = startWorkerOpsServer({ port, host: '127.0.0.1', metrics, checks: {} });
      await expect(start).rejects.toThrow(ListenError);
      await expect(start).rejects.toThrow(/address already in use: set worker\.metrics_port/);
    } finally {
      blocker.close();
    }
  });
});
