import { withTimeout } from '../util/with-timeout.js';
import type { RedisClient } from '../queue/redis.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { ERROR_CODES as TASK_ERROR_CODES } from '../domain/error-codes.js';
import { isTerminalStatus, type TerminalStatus } from '../domain/task-status.js';
import { HttpRequestMetrics } from './http-metrics.js';
import { registerHeapLimitGauge } from './memory-metrics.js';
import { QUEUE_STATES, readQueueStats, type QueueStats } from './queue-stats.js';

// Metric names are part of the product's interface (dashboards and alerts use them). Labels never carry a task, user, workspace or worker id: Prometheus
// keeps one series per label combination, and ids would make that unbounded (the instance label
// Prometheus adds already tells processes apart).

/** Where the queue gauges come from: read lazily at scrape time, never polled. */
export interface QueueGaugeSource {
  redis: RedisClient;
  /** BullMQ prefix (redis.key_prefix). */
  prefix: string;
  names: readonly string[];
  /** A scrape never waits longer than this for Redis (default 2000). */
  timeoutMs?: number;
}

export interface MetricsOptions {
  /** Families this process exports (all by default): the API serves `http`, a worker `tasks` (+ its busy/capacity gauges). */
  include?: { http?: boolean; tasks?: boolean; process?: boolean };
  /** Queue depth gauges; give it to one kind of process (the API) so replicas do not multiply series. */
  queues?: QueueGaugeSource;
}

const ERROR_CODES: ReadonlySet<string> = new Set(TASK_ERROR_CODES);
const TOKEN_TYPES = {
  input_tokens: 'input',
  output_tokens: 'output',
  cache_creation_input_tokens: 'cache_creation_input',
  cache_read_input_tokens: 'cache_read_input',
} as const;

/** Tasks run for seconds to hours (sandbox.max_timeout_seconds defaults to 4 h). */
const LONG_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800];
const START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

export interface Metrics {
  registry: Registry;
  /** http_requests_total and http_request_duration_seconds (recorded by src/api/middleware/metrics.ts). */
  http: HttpRequestMetrics;
  queue: {
    jobs: Gauge<'queue' | 'state'>;
    oldestWaitingAge: Gauge<'queue'>;
    scrapeErrors: Counter<'queue'>;
  };
  tasks: {
    finished: Counter<'status' | 'error_code'>;
    duration: Histogram<'status'>;
    queueWait: Histogram<string>;
    sandboxStart: Histogram<string>;
    costUsd: Counter<string>;
    tokens: Counter<'type'>;
    /** Rows the retention pruner deleted: finished task rows (with all stored for them) and events of finished tasks. */
    retentionPruned: Counter<'kind'>;
    deletionPurged: Counter<'kind'>;
  };
  pool: {
    size: Gauge<string>;
    idle: Gauge<string>;
    hits: Counter<string>;
    misses: Counter<'reason'>;
    claimToStart: Histogram<string>;
  };
  worker: {
    busy: Gauge<string>;
    capacity: Gauge<string>;
    /** Read at scrape time when set (observeWorkerBusy), so the gauge never misses an update. */
    busySource?: () => number;
  };
}

/** A registry of this process's own with typed handles (no module-level singletons: the API and the worker each make one). */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const include = { http: true, tasks: true, process: true, ...opts.include };
  const registry = new Registry();
  // Metrics are made unregistered and registered per family, so a handle always exists to record into.
  const none = { registers: [] as Registry[] };
  const scrapeErrors = new Counter({
    name: 'aicli_queue_scrape_errors_total',
    help: 'Scrapes whose queue gauges could not be read from Redis (the gauges are absent from those scrapes).',
    labelNames: ['queue'] as const,
    ...none,
    // Waits for this scrape's read, so a failure shows in the same scrape.
    collect: async () => {
      await snapshot?.();
    },
  });
  const snapshot = opts.queues ? queueSnapshot(opts.queues, (names) => names.forEach((queue) => scrapeErrors.inc({ queue }))) : null;

  const m: Metrics = {
    registry,
    http: new HttpRequestMetrics(),
    queue: {
      jobs: new Gauge({
        name: 'aicli_queue_jobs',
        help: 'Jobs in each BullMQ state, read from Redis at scrape time.',
        labelNames: ['queue', 'state'] as const,
        ...none,
        collect: snapshot
          ? async function (this: Gauge<'queue' | 'state'>) {
              this.reset();
              for (const s of (await snapshot()) ?? []) {
                for (const state of QUEUE_STATES) this.set({ queue: s.queue, state }, s.counts[state]);
              }
            }
          : undefined,
      }),
      oldestWaitingAge: new Gauge({
        name: 'aicli_queue_oldest_waiting_age_seconds',
        help: 'Seconds since the oldest job waiting for a worker (waiting, paused or prioritized) became due; 0 when none waits.',
        labelNames: ['queue'] as const,
        ...none,
        collect: snapshot
          ? async function (this: Gauge<'queue'>) {
              this.reset();
              for (const s of (await snapshot()) ?? []) this.set({ queue: s.queue }, s.oldestWaitingAgeSeconds);
            }
          : undefined,
      }),
      scrapeErrors,
    },
    tasks: {
      finished: new Counter({
        name: 'aicli_tasks_finished_total',
        help: 'Tasks that reached a terminal status, by status and error code ("none" on success).',
        labelNames: ['status', 'error_code'] as const,
        ...none,
      }),
      duration: new Histogram({
        name: 'aicli_task_duration_seconds',
        help: 'Wall time of the attempt that finished a task, from sandbox start to exit.',
        labelNames: ['status'] as const,
        buckets: LONG_BUCKETS,
        ...none,
      }),
      queueWait: new Histogram({
        name: 'aicli_task_queue_wait_seconds',
        help: 'Time from enqueue until a worker picked the task up.',
        buckets: [0.05, 0.1, 0.25, ...LONG_BUCKETS],
        ...none,
      }),
      sandboxStart: new Histogram({
        name: 'aicli_sandbox_start_seconds',
        help: 'Time to create and start a sandbox container.',
        buckets: START_BUCKETS,
        ...none,
      }),
      costUsd: new Counter({
        name: 'aicli_claude_cost_usd_total',
        help: "Model cost in US dollars: the gateway's metered cost, else the total_cost_usd Claude Code reported.",
        ...none,
      }),
      tokens: new Counter({
        name: 'aicli_claude_tokens_total',
        help: 'Model tokens metered by the worker gateway, by type.',
        labelNames: ['type'] as const,
        ...none,
      }),
      retentionPruned: new Counter({
        name: 'aicli_retention_pruned_total',
        help: 'Rows deleted by retention: kind="tasks" finished task rows (their events, artifacts and deliveries go with them), kind="events" events of finished tasks.',
        labelNames: ['kind'] as const,
        ...none,
      }),
      deletionPurged: new Counter({
        name: 'aicli_deletion_purged_total',
        help: 'Rows the purger removed for deleted users and workspaces: kind="tasks" task rows (their events go with them), kind="workspaces", kind="users".',
        labelNames: ['kind'] as const,
        ...none,
      }),
    },
    pool: {
      size: new Gauge({ name: 'aicli_sandbox_pool_size', help: 'Warm sandboxes this worker keeps (worker.pool_size; 0: no pool).', ...none }),
      idle: new Gauge({ name: 'aicli_sandbox_pool_idle', help: 'Warm sandboxes started and waiting for a task now.', ...none }),
      hits: new Counter({ name: 'aicli_sandbox_pool_hits_total', help: 'Attempts that ran in a warm sandbox.', ...none }),
      misses: new Counter({
        name: 'aicli_sandbox_pool_misses_total',
        help: 'Attempts that started a sandbox cold although the pool is on, by reason (empty, egress, handoff_failed).',
        labelNames: ['reason'] as const,
        ...none,
      }),
      claimToStart: new Histogram({
        name: 'aicli_sandbox_pool_claim_to_start_seconds',
        help: 'Time from taking a warm sandbox to handing it the CLI command (limits applied, hand-off written).',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
        ...none,
      }),
    },
    worker: {
      busy: new Gauge({
        name: 'aicli_worker_busy',
        help: 'Tasks this worker is running now.',
        ...none,
        collect(this: Gauge<string>) {
          const n = m.worker.busySource?.();
          if (typeof n === 'number') this.set(n);
        },
      }),
      capacity: new Gauge({ name: 'aicli_worker_capacity', help: 'Tasks this worker runs at once (queue.worker_concurrency).', ...none }),
    },
  };

  const register = (...metrics: Metric[]) => metrics.forEach((x) => registry.registerMetric(x));
  if (include.http) m.http.registerWith(registry);
  if (snapshot) register(m.queue.jobs, m.queue.oldestWaitingAge, m.queue.scrapeErrors);
  if (include.tasks) register(...Object.values(m.tasks), ...Object.values(m.pool), m.worker.busy, m.worker.capacity);
  if (include.process) {
    collectDefaultMetrics({ register: registry });
    registerHeapLimitGauge(registry);
  }
  // The error counter starts at 0 per queue, so `increase()` sees the first failure.
  for (const queue of opts.queues?.names ?? []) scrapeErrors.inc({ queue }, 0);
  for (const kind of ['tasks', 'events']) m.tasks.retentionPruned.inc({ kind }, 0);
  for (const kind of ['tasks', 'workspaces', 'users']) m.tasks.deletionPurged.inc({ kind }, 0);
  return m;
}

/**
 * Both queue gauges collect concurrently within one scrape (prom-client starts every collect at once),
 * so they share one in-flight read: one Redis round trip per scrape, nothing between scrapes.
 */
function queueSnapshot(src: QueueGaugeSource, onError: (queues: readonly string[]) => void): () => Promise<QueueStats[] | null> {
  let inFlight: Promise<QueueStats[] | null> | null = null;
  const read = async (): Promise<QueueStats[] | null> => {
    try {
      return await withTimeout(readQueueStats(src.redis, src.prefix, src.names), src.timeoutMs ?? 2000, 'queue gauges: Redis did not answer in time');
    } catch {
      onError(src.names);
      return null;
    }
  };
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

export interface TaskFinished {
  status: TerminalStatus;
  errorCode?: string | null;
  /** Wall time of the finishing attempt. */
  durationSeconds?: number;
  /** `result.total_cost_usd` of the CLI's last line. */
  costUsd?: number | null;
  /** The gateway's metered usage (workers/gateway/usage.ts `Usage`); missing fields count 0. */
  tokens?: Partial<Record<keyof typeof TOKEN_TYPES, number>> | null;
}

/** One terminal task: counts it by status and error code, and adds its duration, cost and tokens. */
export function recordTaskFinished(m: Metrics, t: TaskFinished): void {
  const status = isTerminalStatus(t.status) ? t.status : 'failed';
  // Unknown codes collapse to "other" so a new classifier branch cannot grow the label set without bound.
  const errorCode = !t.errorCode ? 'none' : ERROR_CODES.has(t.errorCode) ? t.errorCode : 'other';
  m.tasks.finished.inc({ status, error_code: errorCode });
  if (validAmount(t.durationSeconds)) m.tasks.duration.observe({ status }, t.durationSeconds);
  if (validAmount(t.costUsd) && t.costUsd > 0) m.tasks.costUsd.inc(t.costUsd);
  for (const [field, type] of Object.entries(TOKEN_TYPES)) {
    const n = t.tokens?.[field as keyof typeof TOKEN_TYPES];
    if (validAmount(n) && n > 0) m.tasks.tokens.inc({ type }, n);
  }
}

/** A worker took a task: how long it waited in the queue (enqueued_at → claimed). */
export function recordTaskPickedUp(m: Metrics, queueWaitSeconds: number): void {
  if (validAmount(queueWaitSeconds)) m.tasks.queueWait.observe(queueWaitSeconds);
}

export function recordSandboxStart(m: Metrics, seconds: number): void {
  if (validAmount(seconds)) m.tasks.sandboxStart.observe(seconds);
}

/**
 * empty, egress, handoff_failed: the attempt started cold. cli_workspace, cli_options: it got a warm sandbox,
 * but not its started CLI (a workspace with content, or options other than the pool's), so `claude` was exec'd.
 */
export type PoolMissReason = 'empty' | 'egress' | 'handoff_failed' | 'cli_workspace' | 'cli_options';
const POOL_MISS_REASONS: readonly PoolMissReason[] = ['empty', 'egress', 'handoff_failed', 'cli_workspace', 'cli_options'];

/** The pool's gauges and its zero-started miss counters (so `increase()` sees the first miss). */
export function setPoolState(m: Metrics, size: number, idle: number): void {
  m.pool.size.set(size);
  m.pool.idle.set(idle);
  if (size > 0) for (const reason of POOL_MISS_REASONS) m.pool.misses.inc({ reason }, 0);
}

export function recordPoolHit(m: Metrics, claimToStartSeconds: number): void {
  m.pool.hits.inc();
  if (validAmount(claimToStartSeconds)) m.pool.claimToStart.observe(claimToStartSeconds);
}

export function recordPoolMiss(m: Metrics, reason: PoolMissReason): void {
  m.pool.misses.inc({ reason });
}

export function setWorkerCapacity(m: Metrics, slots: number): void {
  m.worker.capacity.set(slots);
}

export function setWorkerBusy(m: Metrics, running: number): void {
  m.worker.busy.set(running);
}

/** aicli_worker_busy reads `running()` at each scrape (e.g. `() => active.size`) instead of being set. */
export function observeWorkerBusy(m: Metrics, running: () => number): void {
  m.worker.busySource = running;
}

/** The parts of a terminal write (TaskOutcomeWrite, src/tasks/lifecycle/attempt-end.ts) the task metrics read. */
export interface TaskOutcomeLike {
  status: TerminalStatus;
  errorCode: string | null;
  usage: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * What recordTaskFinished counts of a terminal write, as plain data (the task outbox carries it): duration
 * from `usage.wall_ms`, cost from the gateway's `usage.cost_usd` (else `result.total_cost_usd`), tokens
 * from the gateway's usage fields.
 */
export function taskFinishedOf(o: TaskOutcomeLike): TaskFinished {
  const usage = o.usage ?? {};
  const wallMs = num(usage.wall_ms);
  return {
    status: o.status,
    errorCode: o.errorCode,
    durationSeconds: wallMs === undefined ? undefined : wallMs / 1000,
    costUsd: num(usage.cost_usd) ?? num(o.result?.total_cost_usd),
    tokens: {
      input_tokens: num(usage.input_tokens),
      output_tokens: num(usage.output_tokens),
      cache_creation_input_tokens: num(usage.cache_creation_input_tokens),
      cache_read_input_tokens: num(usage.cache_read_input_tokens),
    },
  };
}

const validAmount = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
