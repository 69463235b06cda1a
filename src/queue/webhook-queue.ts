import type { RedisClient } from './redis.js';
import type { Config } from '../config/index.js';
import { JOB_CATALOG, type JobData } from './job-catalog.js';
import { createCatalogQueue, type CatalogQueue } from './queue-factory.js';

export const WEBHOOK_JOB_NAME = 'deliver-webhook';

/** The task id only: the delivery reads the task (and the user's secret) from Postgres when it runs. */
export type WebhookJobData = JobData<typeof WEBHOOK_JOB_NAME>;

export type WebhookQueue = CatalogQueue<typeof WEBHOOK_JOB_NAME>;

export const webhookQueueName = (cfg: Config) => JOB_CATALOG[WEBHOOK_JOB_NAME].queueName(cfg);

export function createWebhookQueue(connection: RedisClient, cfg: Config): WebhookQueue {
  return createCatalogQueue(WEBHOOK_JOB_NAME, connection, cfg);
}

/** One delivery per terminal task: the job id is derived from the task id, so a second add is a no-op. */
export async function enqueueWebhook(queue: WebhookQueue, taskId: string): Promise<void> {
  await queue.add(WEBHOOK_JOB_NAME, { taskId }, { jobId: `webhook-${taskId}` });
}
