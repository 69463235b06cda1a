import type { RedisClient } from './queue/redis.js';
import type { AuthInvalidation } from './auth/invalidation.js';
import type { AccessTokens } from './auth/jwt.js';
import type { Config } from './config/index.js';
import type { Sql } from './db/client.js';
import type { EventHub } from './events/hub.js';
import type { StreamTracker } from './events/sse.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { ScheduleQueue } from './queue/schedule-queue.js';
import type { TaskQueue } from './queue/task-queue.js';
import type { PushQueue } from './queue/push-queue.js';
import type { WebhookQueue } from './queue/webhook-queue.js';

/** Everything the API's handlers need, passed in once (no module-level singletons). */
export interface ApiResources {
  config: Config;
  sql: Sql;
  logger: Logger;
  /** Where each request's line goes (logging.access_file_path); `logger` when absent. */
  accessLog?: Logger;
  tokens: AccessTokens;
  queue: TaskQueue;
  webhooks: WebhookQueue;
  /** Where schedules' job schedulers put their ticks. */
  schedules: ScheduleQueue;
  /** Branch pushes; without it POST /tasks/{id}/push answers 503 (the workers' relay enqueues first tries). */
  pushes?: PushQueue;
  /** Command connection (fails fast when Redis is away). */
  redis: RedisClient;
  /** Prometheus registry and handles; createApp makes one (with the queue gauges) when absent. */
  metrics?: Metrics;
  /** The process's one Redis subscriber, fanned out to SSE clients. */
  hub: EventHub;
  /** Identity changes between API processes (on the same subscriber connection as `hub`). */
  invalidation: AuthInvalidation;
  /** Open SSE streams, ended with a retry hint on shutdown. */
  streams: StreamTracker;
  /** True once the process is shutting down: /readyz answers 503 so that no new traffic is routed here. */
  isDraining?: () => boolean;
}
