import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Config } from '../config/index.js';
import type { App } from './app.js';

export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/** Listens with the configured timeouts; a port in use is a ListenError naming the fix. */
export async function listen(app: App, server: Config['server']): Promise<Server> {
  const http = createAdaptorServer({ fetch: app.fetch }) as Server;
  http.requestTimeout = server.read_timeout;
  http.headersTimeout = Math.min(server.read_timeout, 60_000);
  http.keepAliveTimeout = server.idle_timeout;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${server.host}:${server.port}`;
      if (err.code === 'EADDRINUSE') {
        reject(
          new ListenError(
            `failed to initialize server: listen tcp ${where}: bind: address already in use: stop the other process (lsof -i :${server.port}) or set server.port / PORT`,
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(new ListenError(`failed to initialize server: listen tcp ${where}: permission denied: use a port above 1024 or run with the needed privilege`));
      } else reject(err);
    };
    http.once('error', onError);
    http.listen(server.port, server.host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  return http;
}
