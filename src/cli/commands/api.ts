import { randomBytes } from 'node:crypto';
import { buildApi } from '../../api/app.js';
import { startScheduleRunner, type ScheduleRunner } from '../../api/schedules/runner.js';
import { listen, type ApiServer } from '../../api/server.js';
import { AccessTokens } from '../../auth/jwt.js';
import type { Config } from '../../config/index.js';
import type { Sql } from '../../db/client.js';
import type { Logger } from '../../observability/logger.js';
import { createApiResources } from '../../api/resources-factory.js';
import { StartupError } from '../fatal.js';

/** A JWT secret is required outside development; in development a random one is made for this process. */
function jwtConfig(cfg: Config, logger: Logger): Config['auth']['jwt'] {
  const jwt = cfg.auth.jwt;
  // EdDSA and ES256 sign with auth.jwt.keys, which AccessTokens checks (each problem names its key path).
  if (jwt.algorithm !== 'HS256') return jwt;
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
  server: ApiServer;
  /**
   * /readyz turns 503 and the API goes on serving for server.drain_delay (every response closing its
   * connection), so that a load balancer stops sending here first; then SSE streams end (with a retry
   * hint), the listener closes, and the requests in flight may finish until the deadline
   * (server.shutdown_timeout); then the rest are cut and Redis is closed.
   */
  close(deadlineMs?: number): Promise<void>;
}

export async function startApi(cfg: Config, sql: Sql, logger: Logger, accessLog: Logger | null = null): Promise<RunningApi> {
  const resources = createApiResources(cfg, sql, logger, new AccessTokens(jwtConfig(cfg, logger)), accessLog);
  const { app, identity } = buildApi(resources);
  const server = await listen(app, cfg.server, { logger }).catch((err: unknown) => {
    resources.disconnect();
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.server.port;
  // Schedule ticks are taken here: they need the owner's role and caps, which the API knows (schedules.enabled: false opts out).
  const ticks: ScheduleRunner | null = cfg.schedules.enabled
    ? startScheduleRunner({
        config: cfg,
        sql,
        logger,
        queue: resources.queue,
        schedules: resources.schedules,
        rbac: identity.rbac,
        redis: cfg.redis,
        connectionName: `aicli-api-schedules-${process.pid}`,
      })
    : null;
  logger.info({ action: 'api_started', host: cfg.server.host, port }, `API listening on http://${cfg.server.host}:${port}`);
  return {
    server,
    close: async (deadlineMs = cfg.server.shutdown_timeout) => {
      resources.startDraining();
      // No new tick is taken; one being handled finishes (its task is made or not, never half).
      await ticks?.close();
      const delayMs = cfg.server.drain_delay;
      if (delayMs > 0) {
        server.inFlight.announce();
        logger.info({ action: 'drain_delay', drain_delay_ms: delayMs }, '/readyz answers 503; still serving until server.drain_delay has passed');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      // A stream never ends by itself: held open it would hold the drain to its deadline.
      resources.streams.closeAll(1000);
      const { cut } = await server.inFlight.drain(deadlineMs);
      if (cut > 0) logger.warn({ action: 'drain_deadline', cut, shutdown_timeout_ms: deadlineMs }, 'shutdown deadline passed; unfinished requests cut');
      await resources.close();
    },
  };
}
