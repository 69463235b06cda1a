import type { MiddlewareHandler } from 'hono';
import { nodeIncoming, nodeResponse } from '../../net/node-http.js';

// An answer given before the request body was read (a 401, 413 or 400 on the way in) leaves the rest of
// the body on the connection. The Node adapter drains it for half a second and then destroys the socket;
// a keep-alive client that had already sent its next request on that socket sees it cut off ("other side
// closed"). Such answers say `Connection: close`, so the client opens a new connection instead.
export function closeIfBodyUnread(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const incoming = nodeIncoming(c);
    if (!incoming || incoming.complete) return;
    if (incoming.method === 'GET' || incoming.method === 'HEAD') return;
    nodeResponse(c)?.setHeader('connection', 'close');
  };
}
