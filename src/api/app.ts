import { Hono } from 'hono';
import { createIdentity, type Identity } from '../auth/identity.js';
import { registerCacheGauges } from '../observability/memory-metrics.js';
import type { ApiResources } from '../resources.js';
import { anonymousMetricsNotice, ConfigError, productionProblem } from '../config/index.js';
import type { Metrics } from '../observability/metrics.js';
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
import { permissionTable } from './permissions.js';
import { mountRoutes, type RouteDef } from './route.js';
import { adminRoleRoutes } from './routes/admin-roles.js';
import { adminUserRoutes } from './routes/admin-users.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { authRoutes } from './routes/auth.js';
import { browserSessionRoutes } from './browser-session/routes.js';
import { consoleRoutes } from './console/routes.js';
import { healthRoutes } from './routes/health.js';
import { jwksRoutes } from './routes/jwks.js';
import { oauthCallbackRoutes } from './routes/oauth-callback.js';
import { scheduleRoutes } from './routes/schedules.js';
import { taskRoutes } from './routes/tasks.js';
import { webhookSecretRoutes } from './routes/webhook-secret.js';
import { workspaceRoutes } from './routes/workspaces.js';

/** Every route the app serves, in the order they are registered; the document and access control read the same list. */
function declaredRoutes(r: ApiResources, identity: Identity, metrics: Metrics | null): RouteDef[] {
  const routes: RouteDef[] = [
    ...healthRoutes(r),
    ...jwksRoutes(r.tokens),
    ...(metrics ? metricsRoutes(metrics, r.config.metrics.bearer_token) : []),
    ...openApiRoutes(() => routes),
    ...authRoutes(identity),
    ...browserSessionRoutes(identity),
    ...oauthCallbackRoutes(identity),
    ...apiKeyRoutes(identity),
    ...adminUserRoutes(identity),
    ...adminRoleRoutes(identity),
    ...workspaceRoutes(r),
    ...taskRoutes(r),
    ...scheduleRoutes(r),
    ...webhookSecretRoutes(r),
    ...queueBoardRoutes([r.queue, r.webhooks, r.schedules, ...(r.pushes ? [r.pushes] : [])]),
    ...consoleRoutes(),
  ];
  return routes;
}

/** The app and the route declarations it was built from. */
export function buildApi(r: ApiResources): { app: Hono<AuthEnv>; routes: readonly RouteDef[]; identity: Identity } {
  // Production refuses an open /metrics and a Host-derived OAuth2 redirect_uri (src/config/production.ts).
  const problem = productionProblem(r.config, 'api');
  if (problem) throw new ConfigError(problem);
  const notice = anonymousMetricsNotice(r.config);
  if (notice) r.logger.warn({ action: 'metrics_anonymous' }, notice);
  const app = new Hono<AuthEnv>();
  const identity = createIdentity(r);
  const metrics = r.config.metrics.enabled ? (r.metrics ?? createApiMetrics(r.config, r.redis)) : null;
  if (metrics) registerCacheGauges(metrics.registry, identity.cacheBudget);
  const routes = declaredRoutes(r, identity, metrics);
  // Security headers and CORS on everything, per-IP limits on /api and /auth.
  app.use('*', closeIfBodyUnread());
  app.use('*', securityHeaders(r.config.security.headers));
  app.use('*', cors(r.config.security.cors));
  if (metrics) app.use('*', httpMetrics(metrics));
  app.use('*', requestLog(r.accessLog ?? r.logger));
  app.use('/api/*', limitByIp(identity));
  app.use('/auth/*', limitByIp(identity));
  app.use('/api/*', bodyLimit(r.config.server.body_limit_bytes));
  // Every /api request is judged by the access its route declares (public, authenticated, or a permission; undeclared: 403).
  app.use('/api/*', accessControl(identity, permissionTable(routes)));
  // The queue board judges admin:queues itself; it needs a principal first.
  app.use(`${QUEUE_BOARD_PATH}/*`, requireAuth(identity, 'route'));
  mountRoutes(app, routes);
  app.notFound((c) => renderError(new ApiError(404, 'Not found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c, r.logger));
  app.onError((err, c) => renderError(err, c, r.logger));
  return { app, routes, identity };
}

export function createApp(r: ApiResources): Hono<AuthEnv> {
  return buildApi(r).app;
}

export type App = ReturnType<typeof createApp>;
