import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createApp } from '../../api/app.js';
import { listen } from '../../api/server.js';
import { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/index.js';
import type { Sql } from '../../db/client.js';
import type { Logger } from '../../observability/logger.js';
import { createRedis } from '../../queue/redis.js';
import { createTaskQueue } from '../../queue/task-queue.js';
import { StartupError } from '../fatal.js';

/** A JWT secret is required outside development; in development a random one is made for this process. */
function jwtConfig(cfg: Config, logger: Logger): Config['auth']['jwt'] {
  const jwt = cfg.auth.jwt;
  if (jwt.secret_key.length >= 32) return jwt;
  if (jwt.secret_key.length > 0) {
    throw new StartupError('auth.jwt.secret_key is shorter than 32 characters: set JWT_SECRET_KEY to a long random value (openssl rand -hex 32)');
  }
  if (cfg.environment !== 'development') {
    throw new StartupError('auth.jwt.secret_key is not set: set JWT_SECRET_KEY (openssl rand -hex 32) or auth.jwt.secret_key in the config file');
  }
  logger.warn('JWT_SECRET_KEY is not set: using a random secret for this process (tokens end with it; set one for real use)');
  return { ...jwt, secret_key: randomBytes(32).toString('hex') };
}

export interface RunningApi {
  server: Server;
  close(): Promise<void>;
}

export async function startApi(cfg: Config, sql: Sql, logger: Logger): Promise<RunningApi> {
  const tokens = new AccessTokens(jwtConfig(cfg, logger));
  const redis = createRedis(cfg.redis.url, 'command', 'aicli-api');
  const queueConnection = createRedis(cfg.redis.url, 'command', 'aicli-api-queue');
  const queue = createTaskQueue(queueConnection, cfg);
  const app = createApp({ config: cfg, sql, logger, tokens, queue, redis });
  const server = await listen(app, cfg.server).catch(async (err: unknown) => {
    // Not queue.close(): closing a BullMQ connection that is still in its ready check emits an error
    // nobody listens to; a plain disconnect is enough for a process that is about to exit.
    redis.disconnect();
    queueConnection.disconnect();
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.server.port;
  logger.info({ action: 'api_started', host: cfg.server.host, port }, `API listening on http://${cfg.server.host}:${port}`);
  return {
    server,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
      });
      await Promise.allSettled([queue.close(), redis.quit(), queueConnection.quit()]);
    },
  };
}
