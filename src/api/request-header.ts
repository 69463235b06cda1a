import type { Context } from 'hono';

type NodeEnv = { incoming?: { headers?: Record<string, string | string[] | undefined> } } | undefined;

/**
 * One request header (name in lower case), read from Node's own parsed headers when the request came
 * through the Node server. `c.req.header()` goes through a fetch `Headers` object that the adapter builds
 * on first use and that validates every name it is asked for; on the per-request path (request id, CORS,
 * credentials, body size) that was a measurable share of a trivial request. Outside Node (in-process
 * `app.request()`), it is `c.req.header()`. Repeated headers: Node's rules (e.g. the first Authorization).
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const headers = (c.env as NodeEnv)?.incoming?.headers;
  if (!headers) return c.req.header(name);
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
