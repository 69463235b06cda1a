import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createSql, type Sql } from '../../src/db/client.js';
import type { SlowQuery } from '../../src/observability/slow-query.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let sql: Sql;
const slow: SlowQuery[] = [];

beforeAll(async () => {
  db = await createTestDatabase('opsslow');
  const cfg = configSchema.parse({ database: { url: db.url, max_open_conns: 2, slow_query_ms: 50 } });
  sql = createSql(cfg.database, { onSlowQuery: (q) => slow.push(q) });
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await db?.drop();
});

describe('slow query log (database.slow_query_ms)', () => {
  it('reports queries over the threshold with their duration and SQL text, never their parameters', async () => {
    // The connection is open and a fast query behind it before counting starts (a first connect under
    // load can pass the threshold by itself).
    await sql`select 1`;
    slow.length = 0;
    const [row] = await sql<{ v: string }[]>`select ${'secret-parameter'}::text as v, pg_sleep(${0.08})`;
    expect(row?.v).toBe('secret-parameter');
    expect(slow).toHaveLength(1);
    expect(slow[0]!.durationMs).toBeGreaterThanOrEqual(50);
    expect(slow[0]!.query).toBe('select $1::text as v, pg_sleep($2)');
    expect(JSON.stringify(slow)).not.toContain('secret-parameter');
  });

  it('times unsafe queries, transactions, and failed queries too', async () => {
    slow.length = 0;
    await sql.unsafe('select pg_sleep(0.06)');
    await sql.begin(async (tx) => {
      await tx`select pg_sleep(0.06), ${'in-tx'}::text`;
    });
    // Fails only after sleeping: the cast is evaluated on the row.
    await expect(sql`select (pg_sleep(0.06)::text || ${'x'})::int`).rejects.toThrow(/invalid input syntax/);
    expect(slow.map((q) => q.query)).toEqual(['select pg_sleep(0.06)', 'select pg_sleep(0.06), $1::text', 'select (pg_sleep(0.06)::text || $1)::int']);
  });

  it('leaves fragments and helpers alone, and is off at 0', async () => {
    slow.length = 0;
    const where = sql`where n > ${1}`;
    const rows = await sql`select n from generate_series(1, 3) n ${where}`;
    expect(rows.map((r) => r.n)).toEqual([2, 3]);
    expect(slow).toEqual([]);
    const off = createSql(configSchema.parse({ database: { url: db.url, max_open_conns: 1, slow_query_ms: 0 } }).database, { onSlowQuery: (q) => slow.push(q) });
    try {
      await off`select pg_sleep(0.06)`;
    } finally {
      await off.end({ timeout: 5 });
    }
    expect(slow).toEqual([]);
  });
});
