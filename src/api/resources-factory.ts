import { AuthInvalidation } from '../auth/invalidation.js';
import type { AccessTokens } from '../auth/jwt.js';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/client.js';
import { EventHub } from '../events/hub.js';
import { StreamTracker } from '../events/sse.js';
import type { Logger } from '../observability/logger.js';
import { createRedis } from '../queue/redis.js';
import { createScheduleQueue } from '../queue/schedule-queue.js';
import { createTaskQueue } from '../queue/task-queue.js';
import { createPushQueue } from '../queue/push-queue.js';
import { createWebhookQueue } from '../queue/webhook-queue.js';
import type { ApiResources } from '../resources.js';

export interface OwnedApiResources extends ApiResources {
  /** From now on /readyz answers 503 (the shutdown has begun). */
  startDraining(): void;
  /** Ends SSE streams with a retry hint (if still open), then closes the queues and Redis connections (not Postgres). */
  close(): Promise<void>;
  /** Drops the connections without waiting (a start-up that failed). */
  disconnect(): void;
}

/** The API's Redis-side resources: a command connection, the queues, and the one subscriber (SSE and identity changes). */
export function createApiResources(config: Config, sql: Sql, logger: Logger, tokens: AccessTokens, accessLog: Logger | null = null): OwnedApiResources {
  const redis = createRedis(config.redis, 'command', 'aicli-api');
  const queueConnection = createRedis(config.redis, 'command', 'aicli-api-queue');
  const subscriber = createRedis(config.redis, 'subscriber', `aicli-api-events:${config.redis.key_prefix}`);
  const queue = createTaskQueue(queueConnection, config);
  const webhooks = createWebhookQueue(queueConnection, config);
  const schedules = createScheduleQueue(queueConnection, config);
  const pushes = createPushQueue(queueConnection, config);
  const hub = new EventHub(subscriber, config.redis.key_prefix, logger);
  const invalidation = new AuthInvalidation(subscriber, redis, `${config.redis.key_prefix}:`, logger);
  const streams = new StreamTracker();
  let draining = false;
  return {
    config,
    sql,
    logger,
    accessLog: accessLog ?? undefined,
    tokens,
    queue,
    webhooks,
    schedules,
    pushes,
    redis,
    hub,
    invalidation,
    streams,
    isDraining: () => draining,
    startDraining: () => {
      draining = true;
    },
    close: async () => {
      invalidation.close();
      streams.closeAll(1000);
      await Promise.allSettled([queue.close(), webhooks.close(), schedules.close(), pushes.close()]);
      await Promise.allSettled([redis.quit(), queueConnection.quit(), subscriber.quit()]);
    },
    disconnect: () => {
      invalidation.close();
      // Not queue.close(): closing a BullMQ connection still in its ready check emits an error nobody hears.
      redis.disconnect();
      queueConnection.disconnect();
      subscriber.disconnect();
    },
  };
}
