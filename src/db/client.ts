import postgres from 'postgres';
import { databaseUrl, type Config } from '../config/index.js';
import { withSlowQueryLog, type SlowQuery } from '../observability/slow-query.js';

export type Sql = postgres.Sql;

export interface CreateSqlOptions {
  /**
   * Called for each query slower than database.slow_query_ms (0 turns it off) with its duration and SQL
   * text (placeholders, never parameter values), e.g. `(q) => logger.warn({ action: 'slow_query', duration_ms: q.durationMs, query: q.query }, 'slow query')`.
   */
  onSlowQuery?: (q: SlowQuery) => void;
}

/** One pool per process, sized by database.max_open_conns; lifetimes from the database.* keys. */
export function createSql(db: Config['database'], opts: CreateSqlOptions = {}): Sql {
  const sql = postgres(databaseUrl(db), {
    max: db.max_open_conns,
    idle_timeout: Math.ceil(db.conn_max_idle_time / 1000),
    max_lifetime: Math.ceil(db.conn_max_lifetime / 1000),
    connect_timeout: Math.ceil(db.connect_timeout / 1000),
    onnotice: () => {},
    // Dates come back as Date, bigint counts as numbers are not needed here.
    transform: { undefined: null },
  });
  return opts.onSlowQuery && db.slow_query_ms > 0 ? withSlowQueryLog(sql, db.slow_query_ms, opts.onSlowQuery) : sql;
}

/** Fails fast with the driver's error when Postgres does not answer (used at start-up). */
export async function pingDatabase(sql: Sql): Promise<void> {
  await sql`select 1`;
}
