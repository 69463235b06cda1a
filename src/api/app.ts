import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ApiResources } from '../resources.js';
import { createApiMetrics, metricsRoutes } from './admin/metrics-route.js';
import { QUEUE_BOARD_PATH, queueBoardRoutes } from './admin/queue-board.js';
import { ApiError, renderError } from './errors.js';
import { requireAuth, type AuthEnv } from './middleware/auth.js';
import { httpMetrics } from './middleware/metrics.js';
import { requestLog } from './middleware/request-log.js';
import { openApiRoutes } from './openapi/routes.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { taskRoutes } from './routes/tasks.js';
import { webhookSecretRoutes } from './routes/webhook-secret.js';
import { workspaceRoutes } from './routes/workspaces.js';

export function createApp(r: ApiResources) {
  const app = new Hono<AuthEnv>();
  const metrics = r.config.metrics.enabled ? (r.metrics ?? createApiMetrics(r.config, r.redis)) : null;
  if (metrics) app.use('*', httpMetrics(metrics));
  app.use('*', requestLog(r.logger));
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: r.config.server.body_limit_bytes,
      onError: () => {
        throw new ApiError(413, 'Payload too large', `request body is larger than ${r.config.server.body_limit_bytes} bytes (server.body_limit_bytes)`);
      },
    }),
  );
  app.route('/', healthRoutes(r));
  if (metrics) app.route('/', metricsRoutes(metrics, r.config.metrics.bearer_token));
  app.route('/', openApiRoutes(r.config));
  app.route('/api/v1/auth', authRoutes(r));
  const auth = requireAuth(r.tokens);
  app.use('/api/v1/workspaces/*', auth);
  app.use('/api/v1/workspaces', auth);
  app.use('/api/v1/tasks/*', auth);
  app.use('/api/v1/tasks', auth);
  app.use('/api/v1/webhook-secret/*', auth);
  app.use('/api/v1/webhook-secret', auth);
  app.route('/api/v1/workspaces', workspaceRoutes(r));
  app.route('/api/v1/tasks', taskRoutes(r));
  app.route('/api/v1/webhook-secret', webhookSecretRoutes(r));
  app.route(QUEUE_BOARD_PATH, queueBoardRoutes([r.queue, r.webhooks], auth));
  app.notFound((c) => renderError(new ApiError(404, 'Not found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c, r.logger));
  app.onError((err, c) => renderError(err, c, r.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;
