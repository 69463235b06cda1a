import { buildApi, type createApp } from '../../src/api/app.js';
import { AccessTokens } from '../../src/auth/jwt.js';
import { hashPassword } from '../../src/auth/password.js';
import type { Config } from '../../src/config/index.js';
import type { Sql } from '../../src/db/client.js';
import { insertUser } from '../../src/db/users.js';
import { createLogger } from '../../src/observability/logger.js';
import { createApiResources, type OwnedApiResources } from '../../src/api/resources-factory.js';
import type { RouteDef } from '../../src/api/route.js';
import type { TaskQueue } from '../../src/queue/task-queue.js';
import type { Identity } from '../../src/auth/identity.js';

export interface TestApp {
  app: ReturnType<typeof createApp>;
  /** The route declarations the app was built from. */
  routes: readonly RouteDef[];
  queue: TaskQueue;
  tokens: AccessTokens;
  resources: OwnedApiResources;
  /** The app's identity layer (roles, sessions), for tests that drive the API's parts directly. */
  identity: Identity;
  close(): Promise<void>;
}

/** The real Hono app over real Postgres and Redis, for app.request() tests. */
export function buildTestApp(config: Config, sql: Sql): TestApp {
  const logger = createLogger(config, 'test-api');
  const tokens = new AccessTokens(config.auth.jwt);
  const resources = createApiResources(config, sql, logger, tokens);
  const { app, routes, identity } = buildApi(resources);
  return {
    app,
    routes,
    identity,
    queue: resources.queue,
    tokens,
    resources,
    close: async () => {
      // BullMQ waits for a ready connection before obliterating: bound it for apps built on a dead Redis.
      const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
      await bounded(resources.queue.obliterate({ force: true }));
      await bounded(resources.webhooks.obliterate({ force: true }));
      await bounded(resources.schedules.obliterate({ force: true }));
      if (resources.pushes) await bounded(resources.pushes.obliterate({ force: true }));
      resources.streams.closeAll(1000);
      resources.disconnect();
    },
  };
}

export async function createTestUser(sql: Sql, email: string, password = 'correct horse battery', role = 'user') {
  return insertUser(sql, { email, passwordHash: await hashPassword(password), role });
}
