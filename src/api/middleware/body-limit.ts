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
  const check = honoBodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, 'Payload too large', `request body is larger than ${maxBytes} bytes (server.body_limit_bytes)`);
    },
  });
  return createMiddleware(async (c, next) => {
    // Over HTTP/1.1 a request body comes with one of these two headers; without either there is none.
    // (An in-process `app.request()` has no Node request: Hono's check looks at the body itself.)
    const overHttp = nodeIncoming(c) !== undefined;
    if (overHttp && requestHeader(c, 'content-length') === undefined && requestHeader(c, 'transfer-encoding') === undefined) return next();
    return check(c, next);
  });
}
