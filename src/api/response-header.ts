import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';

type NodeEnv = { outgoing?: ServerResponse } | undefined;

/**
 * Node's own response when the request came through the Node server and its head is not written yet;
 * undefined for in-process `app.request()`.
 */
export function nodeResponse(c: Context): ServerResponse | undefined {
  const outgoing = (c.env as NodeEnv)?.outgoing;
  return outgoing && !outgoing.headersSent ? outgoing : undefined;
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
