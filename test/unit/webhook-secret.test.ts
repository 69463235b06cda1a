import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateWebhookSecret, webhookSecret } from '../../src/db/webhook-secrets.js';
import { createTestUser } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('whsecret');
});

afterAll(async () => {
  await db?.drop();
});

/** The row's version: a write of any kind (even setting a column to itself) gives it a new xmin. */
const rowVersion = async (userId: string) => (await db.sql<{ xmin: string }[]>`select xmin::text from webhook_secrets where user_id = ${userId}`)[0]?.xmin;

describe('webhook signing secret (real Postgres)', () => {
  it('is made on first use, then read without writing the row', async () => {
    const user = await createTestUser(db.sql, 'hooks@example.com');
    expect(await rowVersion(user.id)).toBeUndefined();
    const secret = await webhookSecret(db.sql, user.id);
    expect(secret).toMatch(/^whsec_[\w-]{43}$/);
    const version = await rowVersion(user.id);
    for (let i = 0; i < 3; i++) expect(await webhookSecret(db.sql, user.id)).toBe(secret);
    expect(await rowVersion(user.id)).toBe(version);
  });

  it('concurrent first uses agree on one secret', async () => {
    const user = await createTestUser(db.sql, 'racing@example.com');
    const secrets = await Promise.all(Array.from({ length: 12 }, () => webhookSecret(db.sql, user.id)));
    expect(new Set(secrets).size).toBe(1);
    expect((await db.sql`select 1 from webhook_secrets where user_id = ${user.id}`).length).toBe(1);
  });

  it('rotation replaces it, and later reads give the new one', async () => {
    const user = await createTestUser(db.sql, 'rotating@example.com');
    const before = await webhookSecret(db.sql, user.id);
    const rotated = await rotateWebhookSecret(db.sql, user.id);
    expect(rotated).not.toBe(before);
    expect(await webhookSecret(db.sql, user.id)).toBe(rotated);
  });
});
