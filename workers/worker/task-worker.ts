import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Dockerode from 'dockerode';
import { Worker, type Job } from 'bullmq';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import type { Logger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { startReconciler } from '../../src/queue/reconciler.js';
import { createTaskQueue, type TaskJobData } from '../../src/queue/task-queue.js';
import { createWebhookQueue } from '../../src/queue/webhook-queue.js';
import { createModelGateway } from '../gateway/server.js';
import { checkEngine } from '../sandbox/errors.js';
import { sandboxImageTag } from '../sandbox/build.js';
import { SandboxRunner } from '../sandbox/runner.js';
import { ActiveAttempts } from './attempts.js';
import { listenForControl } from './control-listener.js';
import { isWorkerAlive, startHeartbeat } from './liveness.js';
import { startOrphanReaper } from './orphans.js';
import type { WorkerResources } from './resources.js';
import { runTaskJob } from './run-task.js';
import { startWebhookWorker } from './webhook-worker.js';
import { newWorkerId } from './worker-id.js';

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
  const workerId = newWorkerId(config.worker.id);
  const logger = o.logger.child({ worker_id: workerId });
  const docker = new Dockerode({ socketPath: config.sandbox.docker_socket });
  const image = config.sandbox.image || sandboxImageTag();
  if (config.sandbox.startup_check) await checkEngine(docker, image);

  const scratchDir = path.resolve(config.sandbox.scratch_root, workerId);
  await mkdir(scratchDir, { recursive: true, mode: 0o711 });
  const socketDir = path.resolve(config.worker.gateway_socket_dir);
  await mkdir(socketDir, { recursive: true, mode: 0o755 });
  const gateway = createModelGateway({
    socketPath: path.join(socketDir, `gateway-${workerId}.sock`),
    upstreamBaseUrl: config.claude.upstream_base_url,
    logger,
  });
  await gateway.listen();

  const prefix = config.redis.key_prefix;
  const extraLabels = o.extraLabels ?? config.sandbox.extra_labels;
  const publisher = createRedis(config.redis.url, 'worker', `aicli-worker-pub-${workerId}`);
  const queueConnection = createRedis(config.redis.url, 'command', `aicli-worker-q-${workerId}`);
  const control = createRedis(config.redis.url, 'subscriber', `aicli-worker-ctl-${workerId}`);
  const queue = createTaskQueue(queueConnection, config);
  const webhooks = createWebhookQueue(publisher, config);
  const res: WorkerResources = {
    config,
    sql,
    logger,
    publisher,
    webhooks,
    docker,
    runner: new SandboxRunner(docker, { logger }),
    gateway,
    workerId,
    image,
    scratchDir,
    extraLabels,
  };

  const active = new ActiveAttempts();
  await listenForControl(control, prefix, active, logger);
  const worker = new Worker<TaskJobData>(
    config.queue.name,
    async (job: Job<TaskJobData>, token?: string) => {
      const controller = active.start(job.data.taskId);
      try {
        await runTaskJob(res, job, token, { signal: controller.signal });
      } finally {
        active.end(job.data.taskId, controller);
      }
    },
    {
      connection: createRedis(config.redis.url, 'worker', `aicli-worker-${workerId}`),
      prefix,
      concurrency: config.queue.worker_concurrency,
      lockDuration: config.queue.lock_duration,
      stalledInterval: config.queue.stalled_interval,
      maxStalledCount: config.queue.max_stalled_count,
      autorun: true,
    },
  );
  // A listener keeps a Redis or processor error from crashing the process; BullMQ keeps reconnecting.
  worker.on('error', (err) => logger.warn({ err }, 'worker error'));
  const webhookWorker = startWebhookWorker({ config, sql, logger, connection: createRedis(config.redis.url, 'worker', `aicli-webhooks-${workerId}`) });

  const heartbeat = startHeartbeat(publisher, prefix, workerId, 30_000);
  const reaper = startOrphanReaper({
    docker,
    logger,
    scratchRoot: path.resolve(config.sandbox.scratch_root),
    intervalMs: config.sandbox.reap_interval,
    extraLabels,
    isLive: async (owner, taskId) => (owner === workerId ? active.has(taskId) : isWorkerAlive(publisher, prefix, owner)),
  });
  const reconciler = startReconciler(sql, queue, logger, config.queue.reconcile_interval);
  logger.info({ action: 'worker_started', image, concurrency: config.queue.worker_concurrency }, 'worker started');

  const drainAndClose = async (deadlineMs: number) => {
    reconciler.stop();
    reaper.stop();
    // worker.close() stops fetching and waits for the running jobs; past the deadline they are released.
    const closing = worker.close();
    const timer = setTimeout(() => {
      const released = active.abortAll('shutdown');
      if (released) logger.warn({ action: 'drain_deadline', released }, 'drain deadline passed; releasing running tasks');
    }, deadlineMs);
    await closing;
    clearTimeout(timer);
    await webhookWorker.close();
    await heartbeat.stop();
    const results = await Promise.allSettled([gateway.close(), queue.close(), webhooks.close()]);
    await Promise.allSettled([publisher.quit(), queueConnection.quit(), control.quit()]);
    for (const r of results) if (r.status === 'rejected') logger.warn({ err: r.reason }, 'closing a worker resource failed');
    logger.info({ action: 'worker_stopped' }, 'worker stopped');
  };
  let closing: Promise<void> | undefined;
  return { workerId, close: (deadlineMs = config.worker.shutdown_deadline) => (closing ??= drainAndClose(deadlineMs)) };
}
