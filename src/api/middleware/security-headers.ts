import { createMiddleware } from 'hono/factory';
import type { Config } from '../../config/index.js';

/**
 * The seed's security headers on every response, errors and 404s included (set after the handler, on
 * whatever response it produced). Each value comes from security.headers; an empty value leaves it out.
 */
export function securityHeaders(cfg: Config['security']['headers']) {
  const headers: Array<[string, string]> = (
    [
      ['X-Content-Type-Options', cfg.content_type_options],
      ['X-Frame-Options', cfg.frame_options],
      ['X-XSS-Protection', cfg.xss_protection],
      ['Strict-Transport-Security', cfg.strict_transport_security],
      ['Content-Security-Policy', cfg.content_security_policy],
      ['Referrer-Policy', cfg.referrer_policy],
    ] as Array<[string, string]>
  ).filter(([, v]) => v !== '');
  return createMiddleware(async (c, next) => {
    await next();
    if (!cfg.enabled) return;
    const missing = headers.filter(([name]) => !c.res.headers.has(name));
    if (missing.length === 0) return;
    try {
      // A handler's own choice (e.g. a docs page's CSP) wins.
      for (const [name, value] of missing) c.res.headers.set(name, value);
    } catch {
      // Headers of a response passed through from fetch() are immutable: copy it once.
      c.res = new Response(c.res.body, c.res);
      for (const [name, value] of missing) c.res.headers.set(name, value);
    }
  });
}
