import { Hono } from 'hono';
import { runChecks } from '../../observability/checks.js';
import type { ApiResources } from '../../resources.js';

/** /healthz: the process answers. /readyz: its dependencies answer too, each named with its latency. */
export function healthRoutes(r: ApiResources) {
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      if (r.isDraining?.()) return c.json({ status: 'unavailable', draining: true, checks: {} }, 503);
      const { ready, checks } = await runChecks({ postgres: () => r.sql`select 1`, redis: () => r.redis.ping() }, 2000);
      return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
    });
}
