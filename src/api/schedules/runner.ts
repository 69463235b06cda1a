import { UnrecoverableError, Worker } from 'bullmq';
import { catalogProcessor } from '../../queue/job-processor.js';
import type { RedisSettings } from '../../config/sections/redis.js';
import { createRedis, type RedisClient } from '../../queue/redis.js';
import { SCHEDULE_JOB_NAME, scheduleQueueName, tickMillis, type ScheduleJobData } from '../../queue/schedule-queue.js';
import { startPeriodic } from '../../util/periodic.js';
import { syncSchedulers } from './sync.js';
import { handleTick, type TickDeps } from './tick.js';

export interface ScheduleRunner {
  close(): Promise<void>;
}

/**
 * Takes schedule ticks off their queue (BullMQ's job schedulers put one job there per fire time) and turns
 * each into at most one task; every API process may run one, and BullMQ gives a job to one of them. It also
 * remakes the job schedulers from Postgres now and every schedules.sync_interval.
 */
export function startScheduleRunner(d: TickDeps & { redis: RedisSettings; connectionName: string }): ScheduleRunner {
  const cfg = d.config;
  const connection: RedisClient = createRedis(d.redis, 'worker', d.connectionName);
  const worker = new Worker<ScheduleJobData>(
    scheduleQueueName(cfg),
    catalogProcessor(SCHEDULE_JOB_NAME, { config: cfg, logger: d.logger }, async (job) => {
      const tickMs = tickMillis(job.id);
      if (tickMs === null) throw new UnrecoverableError(`job ${job.id ?? '?'} is not a schedule tick (its id names no scheduler and time)`);
      const result = await handleTick(d, job.data, tickMs);
      const log = { action: 'schedule_tick', schedule_id: job.data.scheduleId, tick_at: new Date(tickMs).toISOString() };
      if (result.kind === 'recorded') {
        const o = result.outcome;
        if (o.status === 'created') d.logger.info({ ...log, task_id: o.taskId }, 'scheduled task created');
        else d.logger.info({ ...log, reason: o.reason }, 'scheduled run skipped');
      } else {
        d.logger.debug({ ...log, outcome: result.kind, why: 'why' in result ? result.why : undefined }, 'schedule tick made nothing');
      }
    }),
    { connection, prefix: cfg.redis.key_prefix, concurrency: 4, runRetryDelay: cfg.queue.fetch_retry_delay },
  );
  worker.on('error', (err) => d.logger.warn({ err }, 'schedule worker error'));
  const sync = startPeriodic(
    cfg.schedules.sync_interval,
    async () => {
      const { made, removed } = await syncSchedulers(d.sql, d.schedules);
      if (made + removed > 0) d.logger.info({ action: 'schedulers_synced', made, removed }, 'job schedulers remade from Postgres');
    },
    (err) => d.logger.warn({ err }, 'schedule sync round failed (Redis or Postgres away?)'),
  );
  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        sync.stop();
        await worker.close();
        await connection.quit().catch(() => {});
      })()),
  };
}
