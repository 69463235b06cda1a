import { createApp } from '../../src/api/app.js';
import { AccessTokens } from '../../src/auth/jwt.js';
import { hashPassword } from '../../src/auth/password.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import { insertUser } from '../../src/db/users.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRedis } from '../../src/queue/redis.js';
import { createTaskQueue, type TaskQueue } from '../../src/queue/task-queue.js';

export interface TestApp {
  app: ReturnType<typeof createApp>;
  queue: TaskQueue;
  tokens: AccessTokens;
  close(): Promise<void>;
}

/** The real Hono app over real Postgres and Redis, for app.request() tests. */
export function buildTestApp(config: Config, sql: Sql): TestApp {
  const logger = createLogger(config, 'test-api');
  const tokens = new AccessTokens(config.auth.jwt);
  const redis = createRedis(config.redis.url, 'command', 'test-api');
  const queueConnection = createRedis(config.redis.url, 'command', 'test-api-queue');
  const queue = createTaskQueue(queueConnection, config);
  const app = createApp({ config, sql, logger, tokens, queue, redis });
  return {
    app,
    queue,
    tokens,
    close: async () => {
      // BullMQ waits for a ready connection before obliterating: bound it for apps built on a dead Redis.
      await Promise.race([queue.obliterate({ force: true }).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
      await Promise.allSettled([queue.close()]);
      redis.disconnect();
      queueConnection.disconnect();
    },
  };
}

export async function createTestUser(sql: Sql, email: string, password = 'correct horse battery', role = 'user') {
  return insertUser(sql, { email, passwordHash: await hashPassword(password), role });
}
