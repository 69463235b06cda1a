import postgres from 'postgres';
import { runMigrations } from '../../src/db/migrate.js';
import { migrationsDir } from '../../src/cli/context.js';
import { assertServices, PG_ADMIN_URL, pgUrl, TEMPLATE_DB } from './services.js';

/**
 * Once per run: the services must answer, and a template database is migrated so that each test file
 * gets its own database by cloning it (much faster than migrating per file).
 */
export default async function setup(): Promise<void> {
  await assertServices();
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
    await admin.unsafe(`create database ${TEMPLATE_DB}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const sql = postgres(pgUrl(TEMPLATE_DB), { max: 1, onnotice: () => {} });
  try {
    await runMigrations(sql, { dir: migrationsDir() });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
