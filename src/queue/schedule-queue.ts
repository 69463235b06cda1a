import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import { JOB_CATALOG, type JobData } from './job-catalog.js';
import { createCatalogQueue, type CatalogQueue } from './queue-factory.js';

export const SCHEDULE_JOB_NAME = 'schedule-tick';

/** The schedule id and row version only: the tick reads the schedule (and its task template) from Postgres. */
export type ScheduleJobData = JobData<typeof SCHEDULE_JOB_NAME>;

export type ScheduleQueue = CatalogQueue<typeof SCHEDULE_JOB_NAME>;

export const scheduleQueueName = (cfg: Config) => JOB_CATALOG[SCHEDULE_JOB_NAME].queueName(cfg);

export function createScheduleQueue(connection: RedisClient, cfg: Config): ScheduleQueue {
  return createCatalogQueue(SCHEDULE_JOB_NAME, connection, cfg);
}

/** The BullMQ job scheduler id of a schedule. */
export const schedulerId = (scheduleId: string) => `schedule-${scheduleId}`;

/** The tick's time from its job id, `repeat:<scheduler id>:<millis>` (BullMQ's id of a scheduler's job); null for any other id. */
export function tickMillis(jobId: string | undefined): number | null {
  const m = /^repeat:schedule-[0-9a-f-]{36}:(\d{1,16})$/.exec(jobId ?? '');
  return m ? Number(m[1]) : null;
}

export interface SchedulerSpec {
  scheduleId: string;
  version: number;
  cron: string;
  timezone: string;
}

/**
 * Makes or replaces the schedule's job scheduler (one per schedule, by id, so repeating it is harmless). Its
 * jobs are removed once handled: the tick's record is schedule_runs, not the queue.
 */
export async function upsertScheduler(queue: ScheduleQueue, s: SchedulerSpec): Promise<void> {
  // BullMQ types the scheduler id as a job name; it is any string.
  await queue.upsertJobScheduler(
    schedulerId(s.scheduleId) as typeof SCHEDULE_JOB_NAME,
    { pattern: s.cron, tz: s.timezone },
    { name: SCHEDULE_JOB_NAME, data: { scheduleId: s.scheduleId, version: s.version }, opts: { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 24 * 3600, count: 1000 } } },
  );
}

export async function removeScheduler(queue: ScheduleQueue, scheduleId: string): Promise<void> {
  await queue.removeJobScheduler(schedulerId(scheduleId));
}
