import { createMiddleware } from 'hono/factory';
import type { Config } from '../../config/index.js';
import { nodeResponse } from '../../net/node-http.js';

/**
 * The security headers of docs/troubleshooting.ko.md on every response, errors and 404s included. Each value comes from
 * security.headers; an empty value leaves it out. A route's own value (e.g. the docs page's CSP) wins.
 *
 * Over HTTP they are set on Node's response before the route runs (see setResponseHeader: the route's own
 * headers override them when the head is written). In-process they are added after the route, to whatever
 * response it produced.
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
  return createMiddleware((c, next) => {
    if (!cfg.enabled) return next();
    const outgoing = nodeResponse(c);
    if (outgoing) {
      for (const [name, value] of headers) outgoing.setHeader(name, value);
      return next();
    }
    return next().then(() => {
      const missing = headers.filter(([name]) => !c.res.headers.has(name));
      if (missing.length === 0) return;
      try {
        for (const [name, value] of missing) c.res.headers.set(name, value);
      } catch {
        // Headers of a response passed through from fetch() are immutable: copy it once.
        c.res = new Response(c.res.body, c.res);
        for (const [name, value] of missing) c.res.headers.set(name, value);
      }
    });
  });
}
