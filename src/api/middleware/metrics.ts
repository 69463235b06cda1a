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
  const at = c.req.routeIndex;
  for (let i = Math.max(0, at); i < routes.length; i++) {
    const route = routes[i];
    if (route && route.method !== 'ALL') return route.path;
  }
  return UNMATCHED;
}

type Child = { inc(): void };
type TimerChild = { observe(v: number): void };

/**
 * http_requests_total and http_request_duration_seconds for every request. Label children are cached
 * (prom-client hashes label objects on every call otherwise); the label space is bounded by the routes.
 */
export function httpMetrics(m: Metrics) {
  const counters = new Map<string, Child>();
  const timers = new Map<string, TimerChild>();
  return createMiddleware(async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const method = c.req.method;
      const endpoint = endpointOf(c);
      const status = String(c.res.status);
      const timerKey = `${method} ${endpoint}`;
      const countKey = `${timerKey} ${status}`;
      let counter = counters.get(countKey);
      if (!counter) {
        counter = m.http.requests.labels(method, endpoint, status);
        counters.set(countKey, counter);
      }
      let timer = timers.get(timerKey);
      if (!timer) {
        timer = m.http.duration.labels(method, endpoint);
        timers.set(timerKey, timer);
      }
      counter.inc();
      timer.observe(seconds);
    }
  });
}
