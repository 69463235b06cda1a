import { randomBytes } from 'node:crypto';
import { configSchema, type Config, type ConfigInput } from '../../src/config/index.js';
import { REDIS_URL } from './services.js';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

/** A unique id for one test file: Redis key prefix, queue name and container labels all carry it. */
export const testId = (label: string) => `${label.replace(/\W/g, '').slice(0, 12)}${randomBytes(4).toString('hex')}`;

/** An in-process config for a test, isolated by `id`. */
export function testConfig(id: string, dbUrl: string, overrides: Partial<Record<keyof ConfigInput, object>> = {}): Config {
  const base: ConfigInput = {
    environment: 'test',
    database: { url: dbUrl, max_open_conns: 4 },
    redis: { url: REDIS_URL, key_prefix: `aicli-test-${id}` },
    auth: { jwt: { secret_key: TEST_JWT_SECRET } },
    queue: { name: `tasks-${id}` },
    logging: { level: 'silent' },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    merged[k] = { ...((base as Record<string, object>)[k] ?? {}), ...v };
  }
  return configSchema.parse(merged);
}

/** The same isolation as environment variables, for spawned CLI processes. */
export function testEnv(id: string, dbUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ENVIRONMENT: 'test',
    LOG_FORMAT: 'json',
    DATABASE_URL: dbUrl,
    REDIS_URL,
    JWT_SECRET_KEY: TEST_JWT_SECRET,
    AICLI__REDIS__KEY_PREFIX: `aicli-test-${id}`,
    AICLI__QUEUE__NAME: `tasks-${id}`,
    // Many workers share a host in tests: each ops listener takes a free port (it logs the one it got).
    AICLI__WORKER__METRICS_PORT: '0',
    ...extra,
  };
}
