import type { RedisClient } from '../../src/queue/redis.js';
import type { Sql } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createRedis } from '../../src/queue/redis.js';
import { createTaskQueue } from '../../src/queue/task-queue.js';
import { createWebhookQueue, type WebhookQueue } from '../../src/queue/webhook-queue.js';
import { createOutboxRelay, createTaskLifecycle, type OutboxRelay, type TaskLifecycle } from '../../src/tasks/lifecycle/index.js';
import { testConfig, testId } from './config.js';

export interface TestLifecycle {
  lifecycle: TaskLifecycle;
  relay: OutboxRelay;
  metrics: Metrics;
  webhooks: WebhookQueue;
  redis: RedisClient;
  prefix: string;
  close(): Promise<void>;
}

/** The task lifecycle as a worker wires it, on the test's database and its own Redis key prefix. */
export function createTestLifecycle(sql: Sql, dbUrl: string, label: string, prefixId = testId(label)): TestLifecycle {
  const config = testConfig(prefixId, dbUrl);
  const redis = createRedis(config.redis.url, 'command', `aicli-test-lifecycle-${label}`);
  const queue = createTaskQueue(redis, config);
  const webhooks = createWebhookQueue(redis, config);
  const metrics = createMetrics({ include: { http: false, tasks: true, process: false } });
  const logger = createLogger(config, 'test-lifecycle');
  const relay = createOutboxRelay({ sql, publisher: redis, prefix: config.redis.key_prefix, webhooks, queue, metrics, logger });
  return {
    lifecycle: createTaskLifecycle({ sql, relay, logger }),
    relay,
    metrics,
    webhooks,
    redis,
    prefix: config.redis.key_prefix,
    close: async () => {
      await Promise.allSettled([queue.close(), webhooks.close()]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * A task set running with no event of its own, for tests of the event stream that play the worker and
 * number its events from 1 (the real claim stores a `running` event first).
 */
export async function runningWithoutEvents(sql: Sql, taskId: string, workerId: string): Promise<{ attempt: number }> {
  const [row] = await sql<{ attempt: number }[]>`
    update tasks set status = 'running', attempt = attempt + 1, worker_id = ${workerId}, started_at = now() where id = ${taskId}
    returning attempt`;
  if (!row) throw new Error(`task ${taskId} does not exist`);
  return row;
}
