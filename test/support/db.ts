import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { PG_ADMIN_URL, pgUrl, templateDb } from './services.js';

export interface TestDatabase {
  name: string;
  url: string;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

/** A database of the test file's own, cloned from the migrated template. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `aicli_t_${label.replace(/\W/g, '_').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${templateDb()}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = pgUrl(name);
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  return {
    name,
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}
