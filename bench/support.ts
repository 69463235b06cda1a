// What every bench shares: a database of its own, migrated and dropped afterwards, and the statistics.
import postgres from 'postgres';
import { migrationsDir } from '../src/cli/context.js';
import { runMigrations } from '../src/db/migrate.js';
import { PG_ADMIN_URL, pgUrl } from '../test/support/services.js';

export interface BenchDatabase {
  url: string;
  sql: postgres.Sql;
  /** Closes `sql` and drops the database (also when the bench failed). */
  drop(): Promise<void>;
}

/** A fresh, migrated database named after the bench, so runs never share state. */
export async function benchDatabase(label: string, maxConnections = 4): Promise<BenchDatabase> {
  const name = `aicli_bench_${label}_${Date.now().toString(36)}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = pgUrl(name);
  const sql = postgres(url, { max: maxConnections, onnotice: () => {} });
  const drop = async () => {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  };
  try {
    await runMigrations(sql, { dir: migrationsDir() });
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, sql, drop };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The nearest-rank percentile (p in 0..100); NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
