import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import { withTimeout } from '../util/with-timeout.js';
import { JOB_CATALOG, type JobData } from './job-catalog.js';
import { createCatalogQueue, type CatalogQueue } from './queue-factory.js';

export const PUSH_JOB_NAME = 'push-branch';

/** The task id only: the pusher reads the task, its workspace and the sealed credential from Postgres. */
export type PushJobData = JobData<typeof PUSH_JOB_NAME>;

export type PushQueue = CatalogQueue<typeof PUSH_JOB_NAME>;

export const pushQueueName = (cfg: Config) => JOB_CATALOG[PUSH_JOB_NAME].queueName(cfg);

export function createPushQueue(connection: RedisClient, cfg: Config): PushQueue {
  return createCatalogQueue(PUSH_JOB_NAME, connection, cfg);
}

/**
 * One job per try of a task's push: `tries` is the number of the try (0 for the one its success owes), so a
 * relay delivering twice adds it once, and a retry is a job of its own.
 */
export async function enqueuePush(queue: PushQueue, taskId: string, tries = 0, timeoutMs = 3000): Promise<void> {
  // BullMQ waits for a connection that is away: a request must not (the relay retries what failed).
  await withTimeout(queue.add(PUSH_JOB_NAME, { taskId }, { jobId: `push-${taskId}-${tries}` }), timeoutMs, `push queue did not answer within ${timeoutMs} ms`);
}
