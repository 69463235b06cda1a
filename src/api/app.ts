import { Hono } from 'hono';
import { createIdentity } from '../auth/identity.js';
import type { ApiResources } from '../resources.js';
import { anonymousMetricsNotice, ConfigError, productionProblem } from '../config/index.js';
import { createApiMetrics, metricsRoutes } from './admin/metrics-route.js';
import { QUEUE_BOARD_PATH, queueBoardRoutes } from './admin/queue-board.js';
import { ApiError, renderError } from './errors.js';
import { accessControl } from './middleware/access.js';
import { bodyLimit } from './middleware/body-limit.js';
import { requireAuth, type AuthEnv } from './middleware/auth.js';
import { closeIfBodyUnread } from './middleware/close-unread.js';
import { cors } from './middleware/cors.js';
import { httpMetrics } from './middleware/metrics.js';
import { limitByIp } from './middleware/rate-limit.js';
import { requestLog } from './middleware/request-log.js';
import { securityHeaders } from './middleware/security-headers.js';
import { openApiRoutes } from './openapi/routes.js';
import { adminRoleRoutes } from './routes/admin-roles.js';
import { adminUserRoutes } from './routes/admin-users.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { jwksRoutes } from './routes/jwks.js';
import { oauthCallbackRoutes } from './routes/oauth-callback.js';
import { taskRoutes } from './routes/tasks.js';
import { webhookSecretRoutes } from './routes/webhook-secret.js';
import { workspaceRoutes } from './routes/workspaces.js';

export function createApp(r: ApiResources) {
  // Production refuses an open /metrics and a Host-derived OAuth2 redirect_uri (src/config/production.ts).
  const problem = productionProblem(r.config, 'api');
  if (problem) throw new ConfigError(problem);
  const notice = anonymousMetricsNotice(r.config);
  if (notice) r.logger.warn({ action: 'metrics_anonymous' }, notice);
  const app = new Hono<AuthEnv>();
  const identity = createIdentity(r);
  // Identity and access: security headers and CORS on everything, per-IP limits on /api and /auth.
  app.use('*', closeIfBodyUnread());
  app.use('*', securityHeaders(r.config.security.headers));
  app.use('*', cors(r.config.security.cors));
  const metrics = r.config.metrics.enabled ? (r.metrics ?? createApiMetrics(r.config, r.redis)) : null;
  if (metrics) app.use('*', httpMetrics(metrics));
  app.use('*', requestLog(r.logger));
  app.use('/api/*', limitByIp(identity));
  app.use('/auth/*', limitByIp(identity));
  app.use('/api/*', bodyLimit(r.config.server.body_limit_bytes));
  // Every /api route is judged by src/api/permissions.ts (public, authenticated, or a permission; unlisted: 403).
  app.use('/api/*', accessControl(identity));
  app.route('/', healthRoutes(r));
  app.route('/', jwksRoutes(r.tokens));
  if (metrics) app.route('/', metricsRoutes(metrics, r.config.metrics.bearer_token));
  app.route('/', openApiRoutes(r.config));
  app.route('/api/v1/auth', authRoutes(identity));
  app.route('/auth/callback', oauthCallbackRoutes(identity));
  app.route('/api/v1/api-keys', apiKeyRoutes(identity));
  app.route('/api/v1/admin/users', adminUserRoutes(identity));
  app.route('/api/v1/admin', adminRoleRoutes(identity));
  const auth = requireAuth(identity);
  app.route('/api/v1/workspaces', workspaceRoutes(r));
  app.route('/api/v1/tasks', taskRoutes(r));
  app.route('/api/v1/webhook-secret', webhookSecretRoutes(r));
  app.route(QUEUE_BOARD_PATH, queueBoardRoutes([r.queue, r.webhooks], auth));
  app.notFound((c) => renderError(new ApiError(404, 'Not found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c, r.logger));
  app.onError((err, c) => renderError(err, c, r.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;
