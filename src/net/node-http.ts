import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';

// The request's own Node objects when it came through the Node server (`c.env` of @hono/node-server), and
// the per-request header reads and writes that use them. In-process `app.request()` has neither: every
// function here then falls back to Hono's own way.

type NodeEnv = { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;

/** Node's request; undefined for in-process `app.request()`. */
export function nodeIncoming(c: Context): IncomingMessage | undefined {
  return (c.env as NodeEnv)?.incoming;
}

/** Node's response while its head is not written yet; undefined for in-process `app.request()`. */
export function nodeResponse(c: Context): ServerResponse | undefined {
  const outgoing = (c.env as NodeEnv)?.outgoing;
  return outgoing && !outgoing.headersSent ? outgoing : undefined;
}

/**
 * One request header (name in lower case), read from Node's own parsed headers when the request came
 * through the Node server. `c.req.header()` goes through a fetch `Headers` object that the adapter builds
 * on first use and that validates every name it is asked for; on the per-request path (request id, CORS,
 * credentials, body size) that was a measurable share of a trivial request. Outside Node (in-process
 * `app.request()`), it is `c.req.header()`. Repeated headers: Node's rules (e.g. the first Authorization).
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const headers = nodeIncoming(c)?.headers;
  if (!headers) return c.req.header(name);
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Sets a header of the response this request will get, whatever response that turns out to be (the
 * route's, an error's, a 404).
 *
 * Over HTTP it goes straight onto Node's response, which merges it into the head it writes. Headers set
 * this way on every request (request id, security headers, RateLimit-*) would otherwise each go through a
 * fetch `Headers` object (validated, sorted and copied again into Node's form), which cost about a tenth of
 * a trivial request (measured by bench/auth.ts). A route's own value for the same header still wins: the
 * adapter passes the route's headers to `writeHead`, which overrides these. In-process it is `c.header()`.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = nodeResponse(c);
  if (outgoing) outgoing.setHeader(name, value);
  else c.header(name, value);
}
