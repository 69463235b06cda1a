import postgres from 'postgres';
import { runMigrations } from '../../src/db/migrate.js';
import { migrationsDir } from '../../src/cli/context.js';
import { assertServices, PG_ADMIN_URL, pgUrl } from './services.js';

/**
 * Once per run: the services must answer, and a template database is migrated so that each test file
 * gets its own database by cloning it (much faster than migrating per file). The template's name is
 * unique to the run and handed to the test workers through the environment.
 */
export default async function setup(): Promise<() => Promise<void>> {
  await assertServices();
  const template = `aicli_tpl_${process.pid}_${Date.now().toString(36)}`;
  process.env.AICLI_TEST_TEMPLATE_DB = template;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${template}`);
  const sql = postgres(pgUrl(template), { max: 1, onnotice: () => {} });
  try {
    await runMigrations(sql, { dir: migrationsDir() });
  } finally {
    await sql.end({ timeout: 5 });
  }
  return async () => {
    await admin.unsafe(`drop database if exists ${template} with (force)`).catch(() => {});
    await admin.end({ timeout: 5 });
  };
}
