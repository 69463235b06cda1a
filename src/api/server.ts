import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Config } from '../config/index.js';
import { listenOrExplain } from '../net/listen.js';
import type { Logger } from '../observability/logger.js';
import type { App } from './app.js';
import { answerClientErrors } from './client-error.js';
import { trackRequests, type HttpDrain } from './drain.js';
import { enforceWriteTimeout } from './write-timeout.js';

/** The API's HTTP server, with the drain its shutdown uses. */
export type ApiServer = Server & { readonly inFlight: HttpDrain };

/** Listens with the configured timeouts; a port in use is a ListenError naming the fix. */
export async function listen(app: App, server: Config['server'], opts: { logger?: Logger } = {}): Promise<ApiServer> {
  // Node checks for requests past their timeout every connectionsCheckingInterval (30 s by default), which
  // would let a short server.read_timeout be overrun by up to that much.
  const checkEveryMs = Math.max(100, Math.min(1000, Math.floor(server.read_timeout / 4)));
  const http = createAdaptorServer({ fetch: app.fetch, serverOptions: { connectionsCheckingInterval: checkEveryMs } }) as Server;
  http.requestTimeout = server.read_timeout;
  http.headersTimeout = Math.min(server.read_timeout, 60_000);
  http.keepAliveTimeout = server.idle_timeout;
  enforceWriteTimeout(http, server.write_timeout, (res) =>
    opts.logger?.warn(
      { action: 'write_timeout', status: res.statusCode, pending_bytes: res.writableLength, write_timeout_ms: server.write_timeout },
      'the client did not read the response within server.write_timeout; connection closed',
    ),
  );
  const drainable = Object.assign(http, { inFlight: trackRequests(http) });
  answerClientErrors(http, {
    readTimeoutMs: server.read_timeout,
    onRequestTimeout: () =>
      opts.logger?.warn({ action: 'read_timeout', read_timeout_ms: server.read_timeout }, 'timeout: a request was not received within server.read_timeout; answered 408'),
  });
  await listenOrExplain(http, server.host, server.port, {
    what: 'failed to initialize server',
    fix: (code) =>
      code === 'EACCES'
        ? 'use a port above 1024 or run with the needed privilege'
        : `stop the other process (lsof -i :${server.port}) or set server.port / PORT`,
  });
  return drainable;
}
