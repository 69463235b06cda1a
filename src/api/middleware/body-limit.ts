import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors.js';
import { nodeIncoming, requestHeader } from '../../net/node-http.js';

/**
 * 413 for a request body over `maxBytes`. A request over HTTP that announces no body (no Content-Length,
 * no Transfer-Encoding: every GET the API serves) passes without being looked at: Hono's check reads
 * `c.req.raw.body`, which makes the Node adapter build a full fetch Request (with an AbortController) for
 * each request, and that cost as much as the whole authentication of a GET.
 */
export function bodyLimit(maxBytes: number) {
  const tooLarge = (): never => {
    throw new ApiError(413, 'Payload too large', `request body is larger than ${maxBytes} bytes (server.body_limit_bytes)`);
  };
  const check = honoBodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return createMiddleware(async (c, next) => {
    // Over HTTP/1.1 a request body comes with one of these two headers; without either there is none.
    // (An in-process `app.request()` has no Node request: Hono's check looks at the body itself.)
    const overHttp = nodeIncoming(c) !== undefined;
    if (!overHttp) return check(c, next);
    const length = requestHeader(c, 'content-length');
    const chunked = requestHeader(c, 'transfer-encoding') !== undefined;
    if (length === undefined && !chunked) return next();
    // Hono's own rule for a declared length, without its look at `c.req.raw.body` (see above): the Node
    // parser holds the body to that length, so the header is the body's size.
    if (length !== undefined && !chunked) return Number.parseInt(length, 10) > maxBytes ? tooLarge() : next();
    return check(c, next);
  });
}
