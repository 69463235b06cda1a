import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { createQueue } from './queue-factory.js';

export const WEBHOOK_JOB_NAME = 'deliver-webhook';

/** The task id only: the delivery reads the task (and the user's secret) from Postgres when it runs. */
export interface WebhookJobData {
  taskId: string;
}

export type WebhookQueue = Queue<WebhookJobData, void, typeof WEBHOOK_JOB_NAME>;

export const webhookQueueName = (cfg: Config) => `${cfg.queue.name}-webhooks`;

export function createWebhookQueue(connection: Redis, cfg: Config): WebhookQueue {
  return createQueue<WebhookJobData, typeof WEBHOOK_JOB_NAME>(webhookQueueName(cfg), connection, cfg, {
    attempts: cfg.webhooks.attempts,
    backoffDelayMs: cfg.webhooks.backoff_delay,
    jitter: 0.3,
  });
}

/** One delivery per terminal task: the job id is derived from the task id, so a second add is a no-op. */
export async function enqueueWebhook(queue: WebhookQueue, taskId: string): Promise<void> {
  await queue.add(WEBHOOK_JOB_NAME, { taskId }, { jobId: `webhook-${taskId}` });
}
