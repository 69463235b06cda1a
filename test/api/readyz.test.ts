import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-services.js';

// A Redis of this test's own, so stopping it does not disturb the other test files.
let db: TestDatabase;
let redis: PrivateRedis;
let t: TestApp;

beforeAll(async () => {
  db = await createTestDatabase('readyz');
  redis = await startPrivateRedis();
  t = buildTestApp(testConfig(testId('readyz'), db.url, { redis: { url: redis.url } }), db.sql);
});

afterAll(async () => {
  await redis?.start().catch(() => {});
  await t?.close();
  await redis?.stop();
  await db?.drop();
});

const ready = async () => {
  const res = await t.app.request('/readyz');
  return { status: res.status, body: (await res.json()) as any };
};

describe('/readyz', () => {
  it('turns 503 naming Redis while Redis is stopped, and recovers when it returns', async () => {
    await expect.poll(async () => (await ready()).status).toBe(200);
    await redis.stop();
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.redis.ok).toBe(false);
    expect(down.body.checks.postgres.ok).toBe(true);
    expect(typeof down.body.checks.redis.latency_ms).toBe('number');
    expect((await t.app.request('/healthz')).status).toBe(200);
    await redis.start();
    await expect.poll(async () => (await ready()).status, { timeout: 15_000, interval: 200 }).toBe(200);
  });
});
