import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Dockerode from 'dockerode';
import { Worker } from 'bullmq';
import { anonymousMetricsNotice, ConfigError, productionProblem, type Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import type { Logger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { startReconciler } from '../../src/queue/reconciler.js';
import { startRetentionPruner } from '../../src/tasks/retention/pruner.js';
import { startDeletionPurger } from '../../src/tasks/deletion/purger.js';
import { catalogProcessor } from '../../src/queue/job-processor.js';
import { createTaskQueue, TASK_JOB_NAME, type TaskJobData } from '../../src/queue/task-queue.js';
import { createPushQueue } from '../../src/queue/push-queue.js';
import { createWebhookQueue } from '../../src/queue/webhook-queue.js';
import { createOutboxRelay, createTaskLifecycle, startOutboxRelay } from '../../src/tasks/lifecycle/index.js';
import { createModelGateway } from '../gateway/server.js';
import { checkEngine } from '../sandbox/errors.js';
import { sandboxImageTag } from '../sandbox/build.js';
import { SANDBOX_LABEL } from '../sandbox/labels.js';
import { SandboxPool } from '../sandbox/pool.js';
import { poolPrestart } from './claude-invocation.js';
import { SandboxRunner } from '../sandbox/runner.js';
import { releaseStaleScratch, uncappedScratchProblem } from '../sandbox/scratch-quota.js';
import { selfCheckSandbox } from '../sandbox/self-check.js';
import { checkHostGit } from '../workspace/git-version.js';
import { createPricing } from '../gateway/pricing.js';
import { ActiveAttempts } from './attempts.js';
import { BackgroundCleanups } from './background-cleanups.js';
import { listenForControl } from './control-listener.js';
import { isWorkerAlive, startHeartbeat } from './liveness.js';
import { startOrphanReaper } from './orphans.js';
import type { WorkerResources } from './resources.js';
import { runTaskJob } from './run-task.js';
import { startWorkerOpsServer } from './ops-server.js';
import { createMetrics, observeWorkerBusy, setPoolState, setWorkerCapacity } from '../../src/observability/metrics.js';
import { STALLED_LIMIT_REASON } from './worker-lost.js';
import { startCancelWatch } from './cancel-watch.js';
import { superviseWorker } from './worker-watchdog.js';
import { startWebhookWorker } from './webhook-worker.js';
import { startPushWorker } from '../push/push-worker.js';
import { newWorkerId } from './worker-id.js';
import { ensureScratchDir } from './scratch-root.js';

export interface StartWorkerOptions {
  config: Config;
  sql: Sql;
  logger: Logger;
  extraLabels?: Record<string, string>;
}

export interface RunningWorker {
  workerId: string;
  /** Stops taking jobs, lets running tasks finish until the deadline, releases the rest, then closes. */
  close(deadlineMs?: number): Promise<void>;
}

export async function startWorker(o: StartWorkerOptions): Promise<RunningWorker> {
  const { config, sql } = o;
  const uncapped = uncappedScratchProblem(config.sandbox.scratch);
  if (uncapped) throw new ConfigError(uncapped);
  // Production refuses an ops listener whose /metrics anyone may read (src/config/production.ts).
  const problem = productionProblem(config, 'worker');
  if (problem) throw new ConfigError(problem);
  const workerId = newWorkerId(config.worker.id);
  const logger = o.logger.child({ worker_id: workerId });
  const docker = new Dockerode({ socketPath: config.sandbox.docker_socket });
  const image = config.sandbox.image || sandboxImageTag();
  const runtime = config.sandbox.runtime ?? undefined;

  const scratchDir = path.resolve(config.sandbox.scratch_root, workerId);
  await ensureScratchDir(scratchDir, config.sandbox.scratch_root);
  // The heartbeat comes next (the scratch dir needs nothing undone): from now on other workers' reapers treat
  // this worker's containers (the self-check probe included) as live.
  const publisher = createRedis(config.redis, 'worker', `aicli-worker-pub-${workerId}`);
  const heartbeat = startHeartbeat(publisher, config.redis.key_prefix, workerId, config.worker.heartbeat_ttl);
  const imageRoot = scratchImageRoot(config);
  const scratchImageDir = path.join(imageRoot, workerId);
  // Engine, image, runtime, scratch cap and a hardened probe container; a configured runtime is checked even without it.
  // Every sandbox carries its deployment, so that the orphan reaper never judges another deployment's
  // sandboxes on this Docker host by this deployment's heartbeats (their workers are not in its Redis keys).
  const extraLabels = { [SANDBOX_LABEL.deployment]: config.redis.key_prefix, ...(o.extraLabels ?? config.sandbox.extra_labels) };
  const runner = new SandboxRunner(docker, { logger });
  try {
    // Always, whatever startup_check says: it guards the host, not the sandbox.
    await checkHostGit();
    if (config.sandbox.startup_check) {
      await selfCheckSandbox({
        docker,
        runner,
        image,
        runtime,
        workerId,
        workDir: scratchDir,
        scratch: { mode: config.sandbox.scratch.mode, parentDir: scratchDir, imageDir: scratchImageDir },
        nofile: config.sandbox.nofile,
        extraLabels,
        logger,
      });
    } else if (runtime) {
      await checkEngine(docker, image, { runtime });
    }
  } catch (err) {
    await heartbeat.stop();
    publisher.disconnect();
    throw err;
  }
  const socketDir = path.resolve(config.worker.gateway_socket_dir);
  await mkdir(socketDir, { recursive: true, mode: 0o755 });
  const gateway = createModelGateway({
    socketPath: path.join(socketDir, `gateway-${workerId}.sock`),
    upstreamBaseUrl: config.claude.upstream_base_url,
    upstreamTimeoutMs: config.claude.timeout,
    logger,
    pricing: createPricing(config.pricing),
    maxRequestBytes: config.worker.gateway_max_request_bytes,
    maxConcurrentRequestsPerTask: config.worker.gateway_max_concurrent_requests_per_task,
  });
  await gateway.listen();

  const prefix = config.redis.key_prefix;
  // Scratch tmpfs mounts a crashed worker left behind (its heartbeat is gone).
  void releaseStaleScratch(config.sandbox.scratch_root, async (owner) => owner === workerId || (await isWorkerAlive(publisher, prefix, owner))).then(
    (released) => released.length > 0 && logger.info({ action: 'released_stale_scratch', count: released.length }, 'unmounted stale scratch'),
    (err: unknown) => logger.warn({ err }, 'releasing stale scratch mounts failed'),
  );
  const queueConnection = createRedis(config.redis, 'command', `aicli-worker-q-${workerId}`);
  const control = createRedis(config.redis, 'subscriber', `aicli-worker-ctl-${workerId}`);
  const queue = createTaskQueue(queueConnection, config);
  // On the fail-fast connection: a delivery while Redis is away fails at once and the relay retries it.
  const webhooks = createWebhookQueue(queueConnection, config);
  const pushes = createPushQueue(queueConnection, config);
  const metrics = createMetrics({ include: { http: false, tasks: true, process: config.metrics.default_metrics } });
  setWorkerCapacity(metrics, config.queue.worker_concurrency);
  const cleanups = new BackgroundCleanups();
  const poolSize = config.worker.pool_size ?? config.queue.worker_concurrency;
  const poolRunRoot = path.join(socketDir, 'pool');
  const pool =
    poolSize > 0
      ? new SandboxPool({
          docker,
          runner,
          size: poolSize,
          base: {
            image,
            workerId,
            memoryMb: config.sandbox.memory_mb,
            cpus: config.sandbox.cpus,
            pids: config.sandbox.pids,
            nofile: config.sandbox.nofile,
            tmpfsMb: config.sandbox.tmpfs_mb,
            runtime,
            extraLabels,
          },
          scratch: { parentDir: scratchDir, sizeMb: config.sandbox.scratch.size_mb, mode: config.sandbox.scratch.mode, imageDir: scratchImageDir },
          runRoot: path.join(poolRunRoot, workerId),
          gatewaySocketPath: gateway.socketPath,
          logger,
          onChange: (size, idle) => setPoolState(metrics, size, idle),
          isBusy: () => active.size > 0,
          prestart: poolPrestart(config),
        })
      : null;
  const relay = createOutboxRelay({ sql, publisher: queueConnection, prefix, webhooks, pushes, queue, metrics, logger });
  const lifecycle = createTaskLifecycle({ sql, relay, logger });
  const res: WorkerResources = {
    config,
    metrics,
    sql,
    logger,
    publisher,
    lifecycle,
    docker,
    runner,
    cleanups,
    pool,
    gateway,
    workerId,
    image,
    scratchDir,
    scratchImageDir,
    extraLabels,
  };

  const active = new ActiveAttempts();
  observeWorkerBusy(metrics, () => active.size);
  let draining = false;
  // The worker's own /metrics, /healthz and /readyz (Postgres, Redis, the Docker engine and the image).
  const ops = config.metrics.enabled
    ? await startWorkerOpsServer({
        port: config.worker.metrics_port,
        host: config.metrics.worker_host,
        metrics,
        bearerToken: config.metrics.bearer_token,
        logger,
        isDraining: () => draining,
        checks: {
          postgres: () => sql`select 1`,
          redis: () => publisher.ping(),
          docker: () => docker.ping(),
          image: () => docker.getImage(image).inspect(),
        },
      })
    : null;
  await listenForControl(control, prefix, active, logger);
  const createWorker = () => {
    const w = new Worker<TaskJobData>(
      config.queue.name,
      // Cancel and shutdown come through the attempt's own controller, the job timeout through the catalog's.
      catalogProcessor(TASK_JOB_NAME, { config, logger }, async (job, token, { signal: timeout }) => {
        const controller = active.start(job.data.taskId);
        try {
          await runTaskJob(res, job, token, { signal: AbortSignal.any([controller.signal, timeout]) });
        } finally {
          active.end(job.data.taskId, controller);
          // Idle now: the pool tops itself up (it waits while attempts run and a warm sandbox is left).
          if (active.size === 0) pool?.refill();
        }
      }),
      {
        connection: createRedis(config.redis, 'worker', `aicli-worker-${workerId}`),
        prefix,
        concurrency: config.queue.worker_concurrency,
        lockDuration: config.queue.lock_duration,
        stalledInterval: config.queue.stalled_interval,
        maxStalledCount: config.queue.max_stalled_count,
        // BullMQ waits 15 s by default before fetching again after a Redis error: a restart would idle every worker that long.
        runRetryDelay: config.queue.fetch_retry_delay,
        autorun: true,
      },
    );
    // A listener keeps a Redis or processor error from crashing the process; BullMQ keeps reconnecting.
    w.on('error', (err) => logger.warn({ err }, 'worker error'));
    // A job whose workers kept disappearing is failed by BullMQ without running: record worker_lost on the task.
    w.on('failed', (job, err) => {
      if (!job || !STALLED_LIMIT_REASON.test(err.message)) return;
      void lifecycle.markLost(job.data.taskId, err.message).then(
        (lost) => lost && logger.warn({ action: 'worker_lost', task_id: job.data.taskId }, 'task failed: its workers were lost too often'),
        (e: unknown) => logger.warn({ err: e, task_id: job.data.taskId }, 'recording worker_lost failed'),
      );
    });
    return w;
  };
  const supervised = superviseWorker({ create: createWorker, probe: publisher, logger });
  const webhookWorker = startWebhookWorker({ config, sql, logger, connection: createRedis(config.redis, 'worker', `aicli-webhooks-${workerId}`) });
  const pushWorker = startPushWorker({ config, sql, logger, connection: createRedis(config.redis, 'worker', `aicli-pushes-${workerId}`) });

  const reaper = startOrphanReaper({
    docker,
    logger,
    scratchRoot: path.resolve(config.sandbox.scratch_root),
    imageRoot,
    poolRunRoot,
    intervalMs: config.sandbox.reap_interval,
    extraLabels,
    // A pool slot's id stands in for the task id in its labels and scratch name.
    isLive: async (owner, holder) =>
      owner === workerId ? active.has(holder) || cleanups.has(holder) || (pool?.holds(holder) ?? false) : isWorkerAlive(publisher, prefix, owner),
    onRound: () => pool?.refresh(),
  });
  pool?.start();
  const reconciler = startReconciler(sql, queue, logger, config.queue.reconcile_interval);
  const retention = startRetentionPruner({ sql, retention: config.retention, logger, metrics });
  const purger = startDeletionPurger({
    sql,
    batchSize: config.retention.batch_size,
    cancel: (ownerId, taskId) => lifecycle.cancel(ownerId, taskId),
    logger,
    metrics,
    intervalMs: config.retention.purge_interval,
  });
  const outbox = startOutboxRelay(relay, logger, config.queue.outbox_interval);
  const cancelWatch = startCancelWatch({ sql, active, logger, intervalMs: config.worker.cancel_poll_interval });
  const notice = anonymousMetricsNotice(config);
  if (notice) logger.warn({ action: 'metrics_anonymous' }, notice);
  logger.info({ action: 'worker_started', image, concurrency: config.queue.worker_concurrency, metrics_port: ops?.port ?? null }, 'worker started');

  const drainAndClose = async (deadlineMs: number) => {
    draining = true;
    reconciler.stop();
    retention?.stop();
    purger.stop();
    reaper.stop();
    cancelWatch.stop();
    // worker.close() stops fetching and waits for the running jobs; past the deadline they are released.
    const closing = supervised.close();
    const timer = setTimeout(() => {
      const released = active.abortAll('shutdown');
      if (released) logger.warn({ action: 'drain_deadline', released }, 'drain deadline passed; releasing running tasks');
    }, deadlineMs);
    await closing;
    clearTimeout(timer);
    // No job runs any more: the attempts' releases finish, the idle warm sandboxes go.
    await cleanups.drain();
    await pool?.drain().catch((err: unknown) => logger.warn({ err }, 'draining the sandbox pool failed'));
    await Promise.allSettled([webhookWorker.close(), pushWorker.close()]);
    // After the last attempt's transition: what its inline delivery left is delivered before Redis closes.
    outbox.stop();
    await relay.deliverPending({ olderThanMs: 0, limit: 200 }).catch((err: unknown) => logger.warn({ err }, 'delivering the outbox at shutdown failed'));
    await heartbeat.stop();
    const results = await Promise.allSettled([gateway.close(), queue.close(), webhooks.close(), pushes.close(), ops?.close()]);
    await Promise.allSettled([publisher.quit(), queueConnection.quit(), control.quit()]);
    for (const r of results) if (r.status === 'rejected') logger.warn({ err: r.reason }, 'closing a worker resource failed');
    logger.info({ action: 'worker_stopped' }, 'worker stopped');
  };
  let closing: Promise<void> | undefined;
  return { workerId, close: (deadlineMs = config.worker.shutdown_deadline) => (closing ??= drainAndClose(deadlineMs)) };
}

/** sandbox.scratch.image_dir, or `<scratch_root>/.images` (same disk as the scratch dirs). */
function scratchImageRoot(config: Config): string {
  return path.resolve(config.sandbox.scratch.image_dir || path.join(config.sandbox.scratch_root, '.images'));
}
