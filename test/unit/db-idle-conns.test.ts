import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createSql, type Sql } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// database.max_idle_conns against a real Postgres: after a burst opens every pooled connection, the idle
// ones past the cap are closed and the pool keeps working; a cap equal to the pool size closes none.
let db: TestDatabase;
const pools: Sql[] = [];

beforeAll(async () => {
  db = await createTestDatabase('idleconns');
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
  await db?.drop();
});

function pool(maxOpen: number, maxIdle: number): { sql: Sql; name: string } {
  const name = `idle-test-${randomBytes(4).toString('hex')}`;
  const database = configSchema.parse({ database: { url: db.url, max_open_conns: maxOpen, max_idle_conns: maxIdle } }).database;
  // A connection counts as idle after half the interval (src/db/idle-trim.ts): 1 s leaves the counts right
  // after a burst half a second before any trim can start, even on a loaded machine.
  const sql = createSql(database, { applicationName: name, idleTrimIntervalMs: 1000 });
  pools.push(sql);
  return { sql, name };
}

const backends = async (name: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = ${name}`)[0]?.n ?? 0;

/** Runs `n` queries at once, so that the pool opens `n` connections. */
const burst = (sql: Sql, n: number) => Promise.all(Array.from({ length: n }, () => sql`select pg_sleep(0.2)`));

describe('database.max_idle_conns', () => {
  it('closes idle connections past the cap after a burst; the pool still answers', async () => {
    const { sql, name } = pool(6, 2);
    const uncapped = pool(6, 6);
    await Promise.all([burst(sql, 6), burst(uncapped.sql, 6)]);
    expect(await backends(name)).toBe(6);
    await expect.poll(() => backends(name), { timeout: 10_000, interval: 100 }).toBe(2);
    // Meanwhile the pool whose cap is its size kept every connection.
    expect(await backends(uncapped.name)).toBe(6);
    await burst(sql, 6);
    expect(await backends(name)).toBe(6);
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
  });

  it('0 keeps one idle connection: the one that counts and ends the others', async () => {
    const { sql, name } = pool(3, 0);
    await burst(sql, 3);
    await expect.poll(() => backends(name), { timeout: 10_000, interval: 100 }).toBe(1);
    expect(await sql`select 2 as two`).toEqual([{ two: 2 }]);
  });
});
