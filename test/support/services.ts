import postgres from 'postgres';
import { Redis } from 'ioredis';

export const PG_ADMIN_URL = process.env.AICLI_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.AICLI_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Set by the global setup for the run (one template per run, so parallel runs never drop each other's). */
export const templateDb = (): string => {
  const name = process.env.AICLI_TEST_TEMPLATE_DB;
  if (!name) throw new Error('AICLI_TEST_TEMPLATE_DB is not set: run the tests through vitest (test/support/global-setup.ts)');
  return name;
};

/** Connection URL of another database on the test Postgres server. */
export function pgUrl(database: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Fails with the command that fixes it when Postgres or Redis is not answering. */
export async function assertServices(): Promise<void> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (err) {
    throw new Error(`Postgres is not answering at ${PG_ADMIN_URL} (${(err as Error).message}): run scripts/setup-host.sh`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not answering at ${REDIS_URL} (${(err as Error).message}): run scripts/setup-host.sh`);
  } finally {
    redis.disconnect();
  }
}
