import { Worker } from 'bullmq';
import type { RedisClient } from '../../src/queue/redis.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import type { Logger } from '../../src/observability/logger.js';
import { catalogProcessor } from '../../src/queue/job-processor.js';
import { PUSH_JOB_NAME, pushQueueName, type PushJobData } from '../../src/queue/push-queue.js';
import { pushTask } from './task-push.js';

/** Pushes succeeded tasks' work as branches, a few at a time (each is a fetch, an apply and a push on the host). */
export function startPushWorker(o: { config: Config; sql: Sql; logger: Logger; connection: RedisClient }): Worker<PushJobData> {
  const worker = new Worker<PushJobData>(
    pushQueueName(o.config),
    catalogProcessor(PUSH_JOB_NAME, { config: o.config, logger: o.logger }, async (job, _token, { signal }) => {
      await pushTask({ sql: o.sql, config: o.config, logger: o.logger, taskId: job.data.taskId, signal });
    }),
    { connection: o.connection, prefix: o.config.redis.key_prefix, concurrency: 2 },
  );
  worker.on('error', (err) => o.logger.warn({ err }, 'push worker error'));
  return worker;
}
