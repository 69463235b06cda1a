import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MIGRATION_LOCK_KEY,
  MigrationError,
  assertSchemaCurrent,
  migrationStatus,
  readMigrationDir,
  runMigrations,
} from '../../src/db/migrate.js';

// Real Postgres, one database per test so tests cannot see each other's schema.
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
const runId = `${process.pid}_${Date.now().toString(36)}`;
const admin = postgres({ ...PG, database: 'postgres', max: 2, connect_timeout: 5, onnotice: () => undefined });
const clients: postgres.Sql[] = [];
const databases: string[] = [];
const tempDirs: string[] = [];

function connect(database: string, max = 3): postgres.Sql {
  const sql = postgres({ ...PG, database, max, connect_timeout: 5, onnotice: () => undefined });
  clients.push(sql);
  return sql;
}

async function freshDatabase(): Promise<{ sql: postgres.Sql; name: string }> {
  const name = `migrate_test_${runId}_${databases.length}`;
  await admin.unsafe(`create database "${name}"`);
  databases.push(name);
  return { sql: connect(name), name };
}

async function fixtureDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migrate-test-'));
  tempDirs.push(dir);
  await Promise.all(Object.entries(files).map(([name, text]) => writeFile(path.join(dir, name), text)));
  return dir;
}

// CREATE TABLE without IF NOT EXISTS: applying 0001 twice would fail loudly.
const BASE: Record<string, string> = {
  '0001_create_items.sql': 'create table items (id int primary key);\n',
  '0001_create_items.down.sql': 'drop table items;\n',
  '0002_add_label.sql': 'alter table items add column label text;\ncreate index items_label on items (label);\n',
  '0002_add_label.down.sql': 'drop index items_label;\nalter table items drop column label;\n',
  '0003_create_notes.sql': 'create table notes (id int primary key, body text not null);\n',
  '0003_create_notes.down.sql': 'drop table notes;\n',
  'README.md': 'not a migration\n',
};

async function hasTable(sql: postgres.Sql, table: string): Promise<boolean> {
  const [row] = await sql<{ present: boolean }[]>`select to_regclass(${table}) is not null as present`;
  return row?.present === true;
}

async function hasColumn(sql: postgres.Sql, table: string, column: string): Promise<boolean> {
  const rows = await sql`select 1 from information_schema.columns where table_name = ${table} and column_name = ${column}`;
  return rows.length === 1;
}

async function migrationRows(sql: postgres.Sql): Promise<Array<{ version: string; dirty: boolean; appliedAt: Date | null }>> {
  return sql<Array<{ version: string; dirty: boolean; appliedAt: Date | null }>>`
    select version, dirty, applied_at as "appliedAt" from schema_migrations order by version`;
}

beforeAll(async () => {
  try {
    await admin`select 1`;
  } catch (err) {
    const cause = err instanceof Error ? err : new Error(String(err));
    throw new Error(`Postgres is not answering on 127.0.0.1:5432 as user postgres (start it; these tests need a real server): ${cause.message}`, { cause });
  }
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.end({ timeout: 5 })));
  try {
    // Leak check: every connection these tests opened to their databases is gone.
    if (databases.length > 0) {
      await vi.waitFor(async () => {
        const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname in ${admin(databases)}`;
        if (row?.n !== 0) throw new Error(`${row?.n} connections to the test databases are still open after closing every client`);
      }, { timeout: 5_000, interval: 50 });
    }
  } finally {
    for (const name of databases) await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 5 });
    await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
});

describe('readMigrationDir', () => {
  it('pairs up and down files, ignores other files and sorts by number, not by text', async () => {
    const dir = await fixtureDir({ ...BASE, '10_ten.sql': 'select 10;', '9_nine.sql': 'select 9;' });
    const files = await readMigrationDir(dir);
    expect(files.map((f) => `${f.version}_${f.name}`)).toEqual([
      '0001_create_items', '0002_add_label', '0003_create_notes', '9_nine', '10_ten',
    ]);
    expect(files[0]).toEqual({
      version: '0001',
      name: 'create_items',
      upPath: path.join(dir, '0001_create_items.sql'),
      downPath: path.join(dir, '0001_create_items.down.sql'),
    });
    expect(files[3]?.downPath).toBeNull();
  });

  it.each([
    [{ '0001-init.sql': '' }, /bad migration file name "0001-init\.sql"/],
    [{ 'init.sql': '' }, /bad migration file name "init\.sql"/],
    [{ '0001_init.up.sql': '' }, /bad migration file name "0001_init\.up\.sql".*expected NNNN_name\.sql/],
    [{ '0000_zero.sql': '' }, /version 0 means/],
    [{ '0001_a.sql': '', '001_b.sql': '' }, /duplicate migration version 001 in .*: 0001_a\.sql and 001_b\.sql; renumber one/],
    [{ '0001_a.sql': '', '0001_b.down.sql': '' }, /down migration 0001_b\.down\.sql .* has no matching 0001_b\.sql/],
  ])('rejects a bad directory %j', async (files, message) => {
    const dir = await fixtureDir(files);
    const err = await readMigrationDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: 'bad_file' });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('names a missing directory', async () => {
    const dir = path.join(os.tmpdir(), `no-such-migrations-${runId}`);
    await expect(readMigrationDir(dir)).rejects.toMatchObject({
      code: 'bad_file',
      message: `cannot read migrations directory ${dir}: not found; check the path`,
    });
  });

  it('makes runMigrations fail before it touches the database', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir({ ...BASE, 'bad name.sql': '' });
    await expect(runMigrations(sql, { dir })).rejects.toMatchObject({ code: 'bad_file' });
    expect(await hasTable(sql, 'schema_migrations')).toBe(false);
  });
});

describe('runMigrations', () => {
  it('applies everything to a fresh database, then a second run is a no-op', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    const logs: string[] = [];

    const first = await runMigrations(sql, { dir, log: (m) => logs.push(m) });
    expect(first).toEqual({ applied: ['0001', '0002', '0003'], reverted: [], version: '0003' });
    expect(await hasTable(sql, 'notes')).toBe(true);
    expect(await hasColumn(sql, 'items', 'label')).toBe(true);
    expect(logs).toContain('applying 0001_create_items.sql');

    const second = await runMigrations(sql, { dir, log: (m) => logs.push(m) });
    expect(second).toEqual({ applied: [], reverted: [], version: '0003' });
    expect(logs.at(-1)).toBe('schema is up to date; nothing to do');

    const rows = await migrationRows(sql);
    expect(rows.map((r) => [r.version, r.dirty])).toEqual([['0001', false], ['0002', false], ['0003', false]]);
    expect(rows.every((r) => r.appliedAt instanceof Date)).toBe(true);
  });

  it('is safe when two processes migrate at once: the second waits, then finds nothing to do', async () => {
    const { sql, name } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    const processA = connect(name);
    const processB = connect(name);

    // Hold the lock so both runners are provably queued on it at the same time.
    const holder = await sql.reserve();
    await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    const logsA: string[] = [];
    const logsB: string[] = [];
    const runA = runMigrations(processA, { dir, log: (m) => logsA.push(m) });
    const runB = runMigrations(processB, { dir, log: (m) => logsB.push(m) });
    const advisoryLocks = async (granted: boolean): Promise<number | undefined> =>
      (await sql<{ n: number }[]>`
        select count(*)::int as n from pg_locks
        where locktype = 'advisory' and objid = ${MIGRATION_LOCK_KEY} and granted = ${granted}
          and database = (select oid from pg_database where datname = current_database())`)[0]?.n;
    await expect.poll(() => advisoryLocks(false)).toBe(2);
    await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
    holder.release();

    const results = await Promise.all([runA, runB]);
    const applied = results.map((r) => r.applied).sort((a, b) => b.length - a.length);
    expect(applied).toEqual([['0001', '0002', '0003'], []]);
    expect(results.map((r) => r.version)).toEqual(['0003', '0003']);
    expect(logsA).toContain('another process is migrating this database; waiting for it to finish');
    expect(logsB).toContain('another process is migrating this database; waiting for it to finish');
    expect((await migrationRows(sql)).map((r) => r.version)).toEqual(['0001', '0002', '0003']);
    // Both sessions gave the lock back.
    expect(await advisoryLocks(true)).toBe(0);
  });

  it('marks a failed migration dirty, refuses to run again, and retries it with force', async () => {
    const { sql } = await freshDatabase();
    const broken = 'create table half_done (id int);\nalter table items add column label text;\nalter table items add column label text;\n';
    const dir = await fixtureDir({ ...BASE, '0002_add_label.sql': broken });

    const err = await runMigrations(sql, { dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: 'failed' });
    expect((err as Error).message).toBe(
      'migration failed: 0002_add_label.sql: column "label" of relation "items" already exists; ' +
        '0002 is now marked dirty: fix the migration, then run `aicli-web migrate --force`',
    );
    expect((err as Error).cause).toMatchObject({ name: 'PostgresError', code: '42701' });
    // The dirty marker survived the rollback; the migration's own work did not.
    expect(await migrationRows(sql)).toEqual([
      { version: '0001', dirty: false, appliedAt: expect.any(Date) },
      { version: '0002', dirty: true, appliedAt: null },
    ]);
    expect(await hasTable(sql, 'half_done')).toBe(false);

    const dirtyMessage = 'database is dirty at migration 0002 (add_label): fix the schema by hand, then run `aicli-web migrate --force`';
    await expect(runMigrations(sql, { dir })).rejects.toMatchObject({ code: 'dirty', message: dirtyMessage });
    await expect(assertSchemaCurrent(sql, dir)).rejects.toMatchObject({ code: 'dirty', message: dirtyMessage });
    expect(await hasTable(sql, 'notes')).toBe(false);

    // Force with the file still broken: the same failure, still dirty.
    await expect(runMigrations(sql, { dir, force: true })).rejects.toMatchObject({ code: 'failed' });
    await expect(runMigrations(sql, { dir })).rejects.toMatchObject({ code: 'dirty' });

    await writeFile(path.join(dir, '0002_add_label.sql'), BASE['0002_add_label.sql'] ?? '');
    const logs: string[] = [];
    const fixed = await runMigrations(sql, { dir, force: true, log: (m) => logs.push(m) });
    expect(fixed).toEqual({ applied: ['0002', '0003'], reverted: [], version: '0003' });
    expect(logs[0]).toMatch(/^force: 0002 \(add_label\) failed while applying/);
    expect((await migrationRows(sql)).every((r) => !r.dirty)).toBe(true);
    await expect(assertSchemaCurrent(sql, dir)).resolves.toBeUndefined();
  });

  it('counts a migration as applied when its dirty flag is cleared by hand (the remedy in docs/troubleshooting.ko.md)', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir({ ...BASE, '0002_add_label.sql': '-- a typo on line 2\nalter table items add column label;\n' });
    await expect(runMigrations(sql, { dir })).rejects.toMatchObject({
      code: 'failed',
      message: expect.stringMatching(/^migration failed: 0002_add_label\.sql: syntax error at or near ";" \(line 2\); /),
    });

    // The operator fixes the schema by hand, then clears the flag.
    await sql`alter table items add column label text`;
    await sql`update schema_migrations set dirty = false where version = '0002'`;
    expect(await runMigrations(sql, { dir })).toEqual({ applied: ['0003'], reverted: [], version: '0003' });
  });

  it('migrates up to a target given as a number, a padded number or a file stem, and down again', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);

    expect(await runMigrations(sql, { dir, targetVersion: '2' })).toEqual({ applied: ['0001', '0002'], reverted: [], version: '0002' });
    expect(await hasTable(sql, 'notes')).toBe(false);
    expect(await runMigrations(sql, { dir, targetVersion: '0003_create_notes' })).toEqual({ applied: ['0003'], reverted: [], version: '0003' });
    expect(await hasTable(sql, 'notes')).toBe(true);

    expect(await runMigrations(sql, { dir, targetVersion: '0001' })).toEqual({ applied: [], reverted: ['0003', '0002'], version: '0001' });
    expect(await hasTable(sql, 'notes')).toBe(false);
    expect(await hasColumn(sql, 'items', 'label')).toBe(false);

    expect(await runMigrations(sql, { dir, targetVersion: '0' })).toEqual({ applied: [], reverted: ['0001'], version: null });
    expect(await hasTable(sql, 'items')).toBe(false);
    expect(await migrationRows(sql)).toEqual([]);

    expect(await runMigrations(sql, { dir })).toMatchObject({ applied: ['0001', '0002', '0003'] });
  });

  it('rejects an unknown target version', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    await expect(runMigrations(sql, { dir, targetVersion: '9' })).rejects.toMatchObject({
      code: 'unknown_version',
      message: `unknown migration version "9" (known versions are 0001..0003 in ${dir}): pick one of them, or 0 to revert everything`,
    });
    await expect(runMigrations(sql, { dir, targetVersion: '0002_wrong_name' })).rejects.toMatchObject({ code: 'unknown_version' });
    expect(await hasTable(sql, 'schema_migrations')).toBe(false);
  });

  it('refuses to go down past a migration without a down file, and reverts nothing', async () => {
    const { sql } = await freshDatabase();
    const { ['0002_add_label.down.sql']: _omitted, ...files } = BASE;
    const dir = await fixtureDir(files);
    await runMigrations(sql, { dir });

    const err = await runMigrations(sql, { dir, targetVersion: '1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).code).toBe('missing_down');
    expect((err as Error).message).toBe(
      `cannot migrate down to 0001: 0002_add_label has no down file (expected ${path.join(dir, '0002_add_label.down.sql')}); ` +
        'add it, or choose a target at or above 0002',
    );
    expect((await migrationRows(sql)).map((r) => r.version)).toEqual(['0001', '0002', '0003']);
    expect(await hasTable(sql, 'notes')).toBe(true);
  });

  it('marks a failed down migration dirty; force lets it be reverted again', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir({ ...BASE, '0003_create_notes.down.sql': 'drop table notes;\ndrop table no_such_table;\n' });
    await runMigrations(sql, { dir });

    await expect(runMigrations(sql, { dir, targetVersion: '2' })).rejects.toMatchObject({
      code: 'failed',
      message: expect.stringMatching(/^migration failed: 0003_create_notes\.down\.sql: table "no_such_table" does not exist; 0003 is now marked dirty/),
    });
    expect(await hasTable(sql, 'notes')).toBe(true);
    expect((await migrationRows(sql)).at(-1)).toEqual({ version: '0003', dirty: true, appliedAt: expect.any(Date) });
    expect(await migrationStatus(sql, dir)).toContainEqual({
      version: '0003', name: 'create_notes', applied: true, dirty: true, appliedAt: expect.any(Date),
    });
    await expect(runMigrations(sql, { dir, targetVersion: '2' })).rejects.toMatchObject({ code: 'dirty' });

    await writeFile(path.join(dir, '0003_create_notes.down.sql'), 'drop table notes;\n');
    expect(await runMigrations(sql, { dir, targetVersion: '2', force: true })).toEqual({ applied: [], reverted: ['0003'], version: '0002' });
    expect(await hasTable(sql, 'notes')).toBe(false);
  });

  it('runs each migration in its own transaction and keeps its SET out of the pooled connection', async () => {
    const { sql, name } = await freshDatabase();
    // One connection, so the query after the run lands on the connection the migrator used.
    const single = connect(name, 1);
    await single`select 1`;
    const dir = await fixtureDir({
      '0001_setup.sql': 'create schema other;\nset search_path = other;\ncreate table in_other (id int);\n',
      '0002_fails.sql': 'create table public.kept_out (id int);\nselect 1/0;\n',
    });
    await expect(runMigrations(single, { dir })).rejects.toMatchObject({ code: 'failed', message: expect.stringContaining('division by zero') });
    expect(await hasTable(sql, 'other.in_other')).toBe(true);
    expect(await hasTable(sql, 'public.kept_out')).toBe(false);
    // The migrator's connection went back to the pool with the default search_path.
    const [row] = await single<{ path: string }[]>`select current_setting('search_path') as path`;
    expect(row?.path).toBe('"$user", public');
    expect(await migrationRows(sql)).toEqual([
      { version: '0001', dirty: false, appliedAt: expect.any(Date) },
      { version: '0002', dirty: true, appliedAt: null },
    ]);
  });
});

describe('migrationStatus and assertSchemaCurrent', () => {
  it('lists every migration on a fresh database without creating anything', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    expect(await migrationStatus(sql, dir)).toEqual([
      { version: '0001', name: 'create_items', applied: false, dirty: false, appliedAt: null },
      { version: '0002', name: 'add_label', applied: false, dirty: false, appliedAt: null },
      { version: '0003', name: 'create_notes', applied: false, dirty: false, appliedAt: null },
    ]);
    expect(await hasTable(sql, 'schema_migrations')).toBe(false);
  });

  it('reports applied migrations and ones recorded by a newer build', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    await runMigrations(sql, { dir, targetVersion: '2' });
    await sql`insert into schema_migrations (version, name, dirty, applied_at) values ('0007', 'from_newer_build', false, now())`;

    const status = await migrationStatus(sql, dir);
    expect(status.map((s) => [s.version, s.name, s.applied, s.dirty])).toEqual([
      ['0001', 'create_items', true, false],
      ['0002', 'add_label', true, false],
      ['0003', 'create_notes', false, false],
      ['0007', 'from_newer_build', true, false],
    ]);
    expect(status[0]?.appliedAt).toBeInstanceOf(Date);
    expect(status[2]?.appliedAt).toBeNull();
  });

  it('throws when the schema is behind and passes once it is current', async () => {
    const { sql } = await freshDatabase();
    const dir = await fixtureDir(BASE);
    const behind = (detail: string): { code: string; message: string } => ({
      code: 'behind',
      message: `database schema is behind (${detail}): run \`aicli-web migrate\``,
    });

    await expect(assertSchemaCurrent(sql, dir)).rejects.toMatchObject(behind('at none, this build needs 0003'));
    await runMigrations(sql, { dir, targetVersion: '0002' });
    await expect(assertSchemaCurrent(sql, dir)).rejects.toBeInstanceOf(MigrationError);
    await expect(assertSchemaCurrent(sql, dir)).rejects.toMatchObject(behind('at 0002, this build needs 0003'));
    await runMigrations(sql, { dir });
    await expect(assertSchemaCurrent(sql, dir)).resolves.toBeUndefined();
  });

  it('notices a gap: a lower-numbered migration that was never applied', async () => {
    const { sql } = await freshDatabase();
    const { ['0002_add_label.sql']: _up, ['0002_add_label.down.sql']: _down, ...withoutTwo } = BASE;
    const dir = await fixtureDir(withoutTwo);
    await runMigrations(sql, { dir });
    await writeFile(path.join(dir, '0002_add_label.sql'), BASE['0002_add_label.sql'] ?? '');

    await expect(assertSchemaCurrent(sql, dir)).rejects.toMatchObject({
      code: 'behind',
      message: 'database schema is behind (at 0003, but 0002 not applied): run `aicli-web migrate`',
    });
    expect(await runMigrations(sql, { dir })).toEqual({ applied: ['0002'], reverted: [], version: '0003' });
    await expect(assertSchemaCurrent(sql, dir)).resolves.toBeUndefined();
  });
});
