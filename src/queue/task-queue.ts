import { withTimeout } from '../util/with-timeout.js';
import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import type { JobData } from './job-catalog.js';
import { createCatalogQueue, type CatalogQueue } from './queue-factory.js';

export const TASK_JOB_NAME = 'run-task';

export type TaskJobData = JobData<typeof TASK_JOB_NAME>;

export type TaskQueue = CatalogQueue<typeof TASK_JOB_NAME>;

export function createTaskQueue(connection: RedisClient, cfg: Config): TaskQueue {
  return createCatalogQueue(TASK_JOB_NAME, connection, cfg);
}

/** Request priority 0-100 (higher runs sooner) to BullMQ's 1 (first) .. 101 (last); every job gets one. */
export const bullPriority = (priority: number | undefined): number => 101 - Math.max(0, Math.min(100, priority ?? DEFAULT_PRIORITY));
export const DEFAULT_PRIORITY = 50;

/** Adds the job for a task; the job id is the task id, so adding twice is a no-op. */
export async function enqueueTask(queue: TaskQueue, taskId: string, opts: { priority?: number; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  await withTimeout(queue.add(TASK_JOB_NAME, { taskId }, { jobId: taskId, priority: bullPriority(opts.priority) }), timeoutMs, `queue did not answer within ${timeoutMs} ms`);
}
