import type { RedisClient } from '../../queue/redis.js';
import type { Config } from '../../config/index.js';
import { bearerMatches } from '../../auth/bearer.js';
import { createMetrics, type Metrics } from '../../observability/metrics.js';
import { webhookQueueName } from '../../queue/webhook-queue.js';
import { unauthorized } from '../errors.js';
import { requestHeader } from '../../net/node-http.js';
import { text } from '../openapi/response-docs.js';
import { defineRoute, type RouteDef } from '../route.js';

/** GET /metrics in Prometheus text format; behind metrics.bearer_token when one is set. */
export function metricsRoutes(m: Metrics, bearerToken: string): RouteDef[] {
  return [
    defineRoute(
      {
        method: 'GET',
        path: '/metrics',
        summary: 'Prometheus metrics (text exposition format)',
        tag: 'operations',
        access: 'metrics',
        description: 'Needs Authorization: Bearer <metrics.bearer_token> when that key is set.',
        responses: [text('text/plain', 'Prometheus text format 0.0.4')],
      },
      async (c) => {
        if (bearerToken && !bearerMatches(requestHeader(c, 'authorization'), bearerToken)) {
          throw unauthorized('/metrics needs Authorization: Bearer <metrics.bearer_token>');
        }
        const body = await m.registry.metrics();
        return c.body(body, 200, { 'Content-Type': m.registry.contentType });
      },
    ),
  ];
}

/** The API's registry: HTTP metrics, the queue gauges (task and webhook queues) and, by default, process metrics. */
export function createApiMetrics(cfg: Config, redis: RedisClient): Metrics {
  return createMetrics({
    include: { http: true, tasks: false, process: cfg.metrics.default_metrics },
    queues: {
      redis,
      prefix: cfg.redis.key_prefix,
      names: [cfg.queue.name, webhookQueueName(cfg)],
      timeoutMs: cfg.metrics.queue_scrape_timeout_ms,
    },
  });
}
