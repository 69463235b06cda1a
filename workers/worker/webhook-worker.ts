import { UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '../../src/queue/redis.js';
import { taskJson } from '../../src/domain/task-json.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import { findTaskById } from '../../src/db/tasks.js';
import { recordDelivery, webhookSecret } from '../../src/db/webhook-secrets.js';
import type { Logger } from '../../src/observability/logger.js';
import { catalogProcessor } from '../../src/queue/job-processor.js';
import { WEBHOOK_JOB_NAME, webhookQueueName, type WebhookJobData } from '../../src/queue/webhook-queue.js';
import { deliverWebhook, WebhookRefused } from '../../src/webhooks/deliver.js';
import { createWebhookGuard } from '../../src/webhooks/guard.js';

/**
 * Delivers terminal tasks' webhooks: one signed POST of the task JSON per task, retried with backoff
 * (BullMQ attempts) until the receiver answers 2xx. A refused address is final and never connected to.
 */
export function startWebhookWorker(o: { config: Config; sql: Sql; logger: Logger; connection: RedisClient }): Worker<WebhookJobData> {
  const guard = createWebhookGuard(o.config.webhooks);
  const worker = new Worker<WebhookJobData>(
    webhookQueueName(o.config),
    catalogProcessor(WEBHOOK_JOB_NAME, { config: o.config, logger: o.logger }, async (job, _token, { signal }) => {
      const task = await findTaskById(o.sql, job.data.taskId);
      if (!task?.webhook_url) return;
      const tryNo = job.attemptsMade + 1;
      const body = JSON.stringify({ event: 'task.finished', task: taskJson(task) });
      const secret = await webhookSecret(o.sql, task.owner_id);
      const log = o.logger.child({ task_id: task.id, action: 'webhook', try: tryNo });
      try {
        const { status } = await deliverWebhook({
          url: task.webhook_url,
          body,
          secret,
          guard,
          timeoutMs: o.config.webhooks.timeout,
          headers: { 'x-aicli-event': 'task.finished', 'x-aicli-delivery': `${task.id}.${tryNo}` },
          signal,
        });
        await recordDelivery(o.sql, { taskId: task.id, tryNo, statusCode: status, error: null });
        if (status < 200 || status >= 300) throw new Error(`receiver answered HTTP ${status}`);
        log.info({ status }, 'webhook delivered');
      } catch (err) {
        const message = (err as Error).message;
        if (err instanceof WebhookRefused) {
          await recordDelivery(o.sql, { taskId: task.id, tryNo, statusCode: null, error: message });
          log.warn({ reason: message }, 'webhook refused by the address guard');
          throw new UnrecoverableError(message);
        }
        if (!/^receiver answered/.test(message)) await recordDelivery(o.sql, { taskId: task.id, tryNo, statusCode: null, error: message });
        log.info({ reason: message }, 'webhook delivery failed; will retry');
        throw err;
      }
    }),
    { connection: o.connection, prefix: o.config.redis.key_prefix, concurrency: 4 },
  );
  worker.on('error', (err) => o.logger.warn({ err }, 'webhook worker error'));
  return worker;
}
