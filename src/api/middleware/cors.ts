import { createMiddleware } from 'hono/factory';
import type { Config } from '../../config/index.js';
import { ApiError } from '../errors.js';
import { requestHeader } from '../../net/node-http.js';

/**
 * CORS from security.cors. An allowed origin gets Access-Control-Allow-Origin (never `*` with
 * credentials); any other origin gets no CORS header at all, and its preflight a 403 that names the key
 * to change. Preflights are answered here, before authentication and rate limits.
 */
export function cors(cfg: Config['security']['cors']) {
  const anyOrigin = cfg.allowed_origins.includes('*');
  const allowed = new Set(cfg.allowed_origins.map((o) => o.replace(/\/$/, '').toLowerCase()));
  const methods = cfg.allowed_methods.map((m) => m.toUpperCase()).join(', ');
  const headers = cfg.allowed_headers.join(', ');
  const exposed = cfg.exposed_headers.join(', ');
  const maxAge = String(Math.floor(cfg.max_age / 1000));
  const isAllowed = (origin: string) => anyOrigin || allowed.has(origin.toLowerCase());

  return createMiddleware(async (c, next) => {
    const origin = requestHeader(c, 'origin');
    const preflight = c.req.method === 'OPTIONS' && origin !== undefined && requestHeader(c, 'access-control-request-method') !== undefined;
    if (origin === undefined) return next();
    if (preflight) {
      if (!isAllowed(origin)) {
        c.header('Vary', 'Origin');
        throw new ApiError(403, 'CORS origin not allowed', `origin ${origin.slice(0, 200)} is not in security.cors.allowed_origins`);
      }
      c.header('Access-Control-Allow-Origin', anyOrigin && !cfg.allow_credentials ? '*' : origin);
      if (cfg.allow_credentials) c.header('Access-Control-Allow-Credentials', 'true');
      c.header('Access-Control-Allow-Methods', methods);
      if (headers) c.header('Access-Control-Allow-Headers', headers);
      c.header('Access-Control-Max-Age', maxAge);
      c.header('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      return c.body(null, 204);
    }
    await next();
    c.res.headers.append('Vary', 'Origin');
    if (!isAllowed(origin)) return;
    c.res.headers.set('Access-Control-Allow-Origin', anyOrigin && !cfg.allow_credentials ? '*' : origin);
    if (cfg.allow_credentials) c.res.headers.set('Access-Control-Allow-Credentials', 'true');
    if (exposed) c.res.headers.set('Access-Control-Expose-Headers', exposed);
  });
}
