import { Queue } from 'bullmq';
import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import { JOB_CATALOG, type JobData, type JobName } from './job-catalog.js';

/** The queue that holds one catalog job, typed by it: only that job's name and data can be added. */
export type CatalogQueue<Name extends JobName> = Queue<JobData<Name>, void, Name>;

/**
 * The BullMQ queue of a catalog job under the configured key prefix, with the job's retries (exponential
 * backoff with jitter) and finished jobs kept a bounded time. Connection errors surface on each call (an
 * add answers 503); the listener keeps them from crashing the process.
 */
export function createCatalogQueue<Name extends JobName>(name: Name, connection: RedisClient, cfg: Config): CatalogQueue<Name> {
  const job = JOB_CATALOG[name];
  const retry = job.retry(cfg);
  const queue = new Queue<JobData<Name>, void, Name>(job.queueName(cfg), {
    connection,
    prefix: cfg.redis.key_prefix,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffDelayMs, jitter: retry.jitter },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  });
  queue.on('error', () => {});
  return queue;
}
