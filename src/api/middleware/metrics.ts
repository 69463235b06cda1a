import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from '../../observability/metrics.js';

/** Label for requests that matched no route: their raw paths must never become label values. */
export const UNMATCHED = 'unmatched';

/**
 * The route pattern a request was for (`/api/v1/tasks/:id`), never its raw path. When a middleware answered
 * (401 from auth, 413 from the body limit) it is the route the request was heading to.
 */
export function endpointOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = Math.max(0, c.req.routeIndex); i < routes.length; i++) {
    const route = routes[i];
    if (route && route.method !== 'ALL') return route.path;
  }
  return UNMATCHED;
}

/** http_requests_total and http_request_duration_seconds for every request (see observability/http-metrics.ts). */
export function httpMetrics(m: Metrics) {
  return createMiddleware(async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      m.http.record(c.req.method, endpointOf(c), c.res.status, (performance.now() - started) / 1000);
    }
  });
}
