import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { databaseUrl, type Config } from '../config/index.js';
import { withSlowQueryLog, type SlowQuery } from '../observability/slow-query.js';
import { startIdleTrim } from './idle-trim.js';

export type Sql = postgres.Sql;
/** A statement runner: the pool, or a transaction of it (for functions that take part in a caller's transaction). */
export type Queryable = postgres.Sql | postgres.TransactionSql;

export interface CreateSqlOptions {
  /**
   * Called for each query slower than database.slow_query_ms (0 turns it off) with its duration and SQL
   * text (placeholders, never parameter values), e.g. `(q) => logger.warn({ action: 'slow_query', duration_ms: q.durationMs, query: q.query }, 'slow query')`.
   */
  onSlowQuery?: (q: SlowQuery) => void;
  /** The pool's application_name in pg_stat_activity; default `aicli-web:<pid>:<random>`, unique per pool. */
  applicationName?: string;
  /** How often idle connections past database.max_idle_conns are looked for (default 10 s). */
  idleTrimIntervalMs?: number;
  /** Called when closing idle connections past database.max_idle_conns failed (it is tried again later). */
  onIdleTrimError?: (err: Error) => void;
}

/**
 * One pool per process, sized by database.max_open_conns, keeping at most database.max_idle_conns idle
 * connections; lifetimes from the database.* keys.
 */
export function createSql(db: Config['database'], opts: CreateSqlOptions = {}): Sql {
  const { url, applicationName: named } = takeApplicationName(databaseUrl(db));
  const applicationName = opts.applicationName ?? `${named ?? 'aicli-web'}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const sql = postgres(url, {
    max: db.max_open_conns,
    connection: { application_name: applicationName },
    idle_timeout: Math.ceil(db.conn_max_idle_time / 1000),
    max_lifetime: Math.ceil(db.conn_max_lifetime / 1000),
    connect_timeout: Math.ceil(db.connect_timeout / 1000),
    onnotice: () => {},
    // Dates come back as Date, bigint counts as numbers are not needed here.
    transform: { undefined: null },
  });
  // One connection always stays: the one that counts the idle ones and ends the rest (0 is taken as 1).
  const maxIdle = Math.max(1, db.max_idle_conns);
  if (maxIdle < db.max_open_conns) {
    startIdleTrim(sql, { applicationName, maxIdle, intervalMs: opts.idleTrimIntervalMs ?? 10_000, onError: opts.onIdleTrimError });
  }
  return opts.onSlowQuery && db.slow_query_ms > 0 ? withSlowQueryLog(sql, db.slow_query_ms, opts.onSlowQuery) : sql;
}

/**
 * An application_name in the URL would win over the pool's own (and make it the same in every process):
 * it becomes the prefix of the pool's name instead.
 */
function takeApplicationName(url: string): { url: string; applicationName: string | null } {
  try {
    const parsed = new URL(url);
    const name = parsed.searchParams.get('application_name');
    if (name === null) return { url, applicationName: null };
    parsed.searchParams.delete('application_name');
    return { url: parsed.toString(), applicationName: name };
  } catch {
    return { url, applicationName: null };
  }
}

/** Fails fast with the driver's error when Postgres does not answer (used at start-up). */
export async function pingDatabase(sql: Sql): Promise<void> {
  await sql`select 1`;
}
