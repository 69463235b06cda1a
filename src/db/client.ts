import postgres from 'postgres';
import { databaseUrl, type Config } from '../config/index.js';

export type Sql = postgres.Sql;

/** One pool per process, sized by database.max_open_conns; lifetimes from the seed's keys. */
export function createSql(db: Config['database'], opts: { onSlowQuery?: (ms: number) => void } = {}): Sql {
  void opts;
  return postgres(databaseUrl(db), {
    max: db.max_open_conns,
    idle_timeout: Math.ceil(db.conn_max_idle_time / 1000),
    max_lifetime: Math.ceil(db.conn_max_lifetime / 1000),
    connect_timeout: Math.ceil(db.connect_timeout / 1000),
    onnotice: () => {},
    // Dates come back as Date, bigint counts as numbers are not needed here.
    transform: { undefined: null },
  });
}

/** Fails fast with the driver's error when Postgres does not answer (used at start-up). */
export async function pingDatabase(sql: Sql): Promise<void> {
  await sql`select 1`;
}
