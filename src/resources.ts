import type { Redis } from 'ioredis';
import type { AccessTokens } from './auth/jwt.js';
import type { Config } from './config/index.js';
import type { Sql } from './db/client.js';
import type { Logger } from './observability/logger.js';
import type { TaskQueue } from './queue/task-queue.js';

/** Everything the API's handlers need, passed in once (no module-level singletons). */
export interface ApiResources {
  config: Config;
  sql: Sql;
  logger: Logger;
  tokens: AccessTokens;
  queue: TaskQueue;
  /** Command connection (fails fast when Redis is away). */
  redis: Redis;
}
