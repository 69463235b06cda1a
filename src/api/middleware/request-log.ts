import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import type { AuthEnv } from './auth.js';
import { requestHeader, setResponseHeader } from '../../net/node-http.js';

/** A request id on every response and one log line per request (route pattern, never the raw path with ids). */
export function requestLog(logger: Logger) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const incoming = requestHeader(c, 'x-request-id');
    const requestId = incoming && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    setResponseHeader(c, 'X-Request-Id', requestId);
    const started = performance.now();
    await next();
    const principal = c.get('principal') as { userId?: string } | undefined;
    logger.info(
      {
        request_id: requestId,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        duration: Math.round((performance.now() - started) * 10) / 10,
        user_id: principal?.userId,
      },
      'request',
    );
  });
}
