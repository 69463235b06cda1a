import { runChecks } from '../../observability/checks.js';
import type { ApiResources } from '../../resources.js';
import { ok } from '../openapi/response-docs.js';
import { healthSchema, readinessSchema } from '../openapi/schemas.js';
import { defineRoute, type RouteDef } from '../route.js';

/** /healthz: the process answers. /readyz: its dependencies answer too, each named with its latency. */
export function healthRoutes(r: ApiResources): RouteDef[] {
  return [
    defineRoute(
      { method: 'GET', path: '/healthz', summary: 'Liveness: the process answers', tag: 'operations', access: 'public', responses: [ok(healthSchema)] },
      (c) => c.json({ status: 'ok' }),
    ),
    defineRoute(
      {
        method: 'GET',
        path: '/readyz',
        summary: 'Readiness: Postgres and Redis answer, each with its latency',
        tag: 'operations',
        access: 'public',
        responses: [ok(readinessSchema, 'Ready'), { status: 503, description: 'A dependency does not answer', schema: readinessSchema }],
      },
      async (c) => {
        if (r.isDraining?.()) return c.json({ status: 'unavailable', draining: true, checks: {} }, 503);
        const { ready, checks } = await runChecks({ postgres: () => r.sql`select 1`, redis: () => r.redis.ping() }, 2000);
        return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
      },
    ),
  ];
}
