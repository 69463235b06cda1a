import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type postgres from 'postgres';
import {
  MigrationError,
  compareVersions,
  migrationStem,
  readMigrationDir,
  versionKey,
  type MigrationFile,
} from './migration-files.js';
import { toError } from '../util/to-error.js';

export { MigrationError, readMigrationDir };
export type { MigrationErrorCode, MigrationFile } from './migration-files.js';

export interface MigrateOptions {
  dir: string;
  /** `3`, `0003` or `0003_add_x`; `0` reverts everything. Default: the newest file, never reverting. */
  targetVersion?: string;
  /** Clears a dirty marker left by a failed migration so that migration is tried again. */
  force?: boolean;
  log?: (msg: string) => void;
}

export interface MigrateResult {
  applied: string[];
  reverted: string[];
  /** Highest applied version after the run, or null when none is applied. */
  version: string | null;
}

export interface MigrationStatusEntry {
  version: string;
  name: string;
  applied: boolean;
  dirty: boolean;
  appliedAt: Date | null;
}

/**
 * Advisory-lock key that serialises migrators ("aicl" in ASCII). Advisory locks are scoped
 * to one database, so databases on the same server do not block each other.
 */
export const MIGRATION_LOCK_KEY = 0x6169636c;

const MIGRATE_HINT = 'run `aicli-web migrate`';
const FORCE_HINT = 'run `aicli-web migrate --force`';

/**
 * One row per migration. `applied_at` is set only when the up migration committed, so a dirty
 * row with `applied_at` null failed on the way up and a dirty row with a date failed on the way down.
 */
interface MigrationRow {
  version: string;
  name: string;
  dirty: boolean;
  appliedAt: Date | null;
}

type Conn = postgres.ReservedSql;


function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

// ---- schema_migrations ------------------------------------------------------------------------
// Column aliases have no underscores so a client built with a camelCase column transform reads them unchanged.

async function tableExists(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql<{ present: boolean }[]>`select to_regclass('schema_migrations') is not null as present`;
  return row?.present === true;
}

async function ensureTable(conn: Conn): Promise<void> {
  // Checked first (under the lock) because CREATE TABLE IF NOT EXISTS sends a notice on every run.
  if (await tableExists(conn)) return;
  await conn`
    create table schema_migrations (
      version text primary key,
      name text not null default '',
      dirty boolean not null,
      applied_at timestamptz
    )`;
}

async function readRows(sql: postgres.Sql): Promise<MigrationRow[]> {
  if (!(await tableExists(sql))) return [];
  const rows = await sql<MigrationRow[]>`
    select version, name, dirty, applied_at as "appliedAt" from schema_migrations`;
  for (const row of rows) {
    if (!/^\d+$/.test(row.version)) {
      throw new MigrationError(
        'unknown_version',
        `schema_migrations holds version "${row.version}", which is not a migration number: fix that row by hand`,
      );
    }
  }
  return [...rows].sort((a, b) => compareVersions(a.version, b.version));
}

function isApplied(row: MigrationRow | undefined): boolean {
  // A row whose dirty flag was cleared by hand (the remedy in docs/troubleshooting.ko.md) counts as applied.
  return row !== undefined && (row.appliedAt !== null || !row.dirty);
}

function highestApplied(rows: MigrationRow[]): string | null {
  const applied = rows.filter((r) => !r.dirty);
  return applied.at(-1)?.version ?? null;
}

function dirtyError(row: MigrationRow): MigrationError {
  const label = row.name ? ` (${row.name})` : '';
  return new MigrationError(
    'dirty',
    `database is dirty at migration ${row.version}${label}: fix the schema by hand, then ${FORCE_HINT}`,
  );
}

// ---- target and plan --------------------------------------------------------------------------

/** Resolves `3`, `0003` or `0003_add_x` to a version key; `0` means "nothing applied". */
function resolveTarget(files: MigrationFile[], input: string, dir: string): bigint {
  const text = input.trim().replace(/\.sql$/, '');
  const match = /^(\d+)(?:_(.+))?$/.exec(text);
  const digits = match?.[1];
  if (digits !== undefined) {
    const key = versionKey(digits);
    const name = match?.[2];
    if (key === 0n && name === undefined) return 0n;
    const file = files.find((f) => versionKey(f.version) === key);
    if (file && (name === undefined || name === file.name)) return key;
  }
  const known = files.length > 0 ? `known versions are ${files[0]?.version}..${files.at(-1)?.version}` : 'there are no migration files';
  throw new MigrationError(
    'unknown_version',
    `unknown migration version "${input}" (${known} in ${dir}): pick one of them, or 0 to revert everything`,
  );
}

interface Plan {
  down: Array<{ row: MigrationRow; file: MigrationFile; downPath: string }>;
  up: MigrationFile[];
}

function plan(files: MigrationFile[], rows: MigrationRow[], target: bigint | undefined, dir: string): Plan {
  const appliedKeys = new Set(rows.map((r) => versionKey(r.version)));
  const up = files.filter((f) => !appliedKeys.has(versionKey(f.version)) && (target === undefined || versionKey(f.version) <= target));
  if (target === undefined) return { down: [], up };

  const targetLabel = files.find((f) => versionKey(f.version) === target)?.version ?? '0';
  const down: Plan['down'] = [];
  // Every down file is checked before anything runs, so a missing one reverts nothing.
  for (const row of rows.filter((r) => versionKey(r.version) > target).reverse()) {
    const file = files.find((f) => versionKey(f.version) === versionKey(row.version));
    if (!file) {
      throw new MigrationError(
        'missing_down',
        `cannot migrate down to ${targetLabel}: applied migration ${row.version} (${row.name}) has no file in ${dir}; use the build that added it`,
      );
    }
    if (file.downPath === null) {
      const expected = path.join(dir, `${migrationStem(file)}.down.sql`);
      throw new MigrationError(
        'missing_down',
        `cannot migrate down to ${targetLabel}: ${migrationStem(file)} has no down file (expected ${expected}); add it, or choose a target at or above ${file.version}`,
      );
    }
    down.push({ row, file, downPath: file.downPath });
  }
  return { down, up };
}

// ---- running one migration ------------------------------------------------------------------------

async function readSqlText(filePath: string): Promise<string> {
  try {
    // A byte-order mark is a syntax error to Postgres.
    return (await readFile(filePath, 'utf8')).replace(/^\uFEFF/, '');
  } catch (err) {
    const cause = toError(err);
    throw new MigrationError('bad_file', `cannot read migration file ${filePath}: ${cause.message}`, { cause });
  }
}

function lineSuffix(text: string, err: Error): string {
  // Only syntax errors carry a position. Postgres reports a 1-based character offset into the whole (multi-statement) text.
  const position = Number((err as { position?: unknown }).position);
  if (!Number.isInteger(position) || position < 1) return '';
  return ` (line ${text.slice(0, position - 1).split('\n').length})`;
}

/**
 * Runs `text` and `record` in one transaction. The caller has already marked the row dirty
 * outside this transaction, so the marker survives the rollback.
 */
async function runInTransaction(
  conn: Conn,
  filePath: string,
  version: string,
  text: string,
  record: () => Promise<unknown>,
  log: (msg: string) => void,
): Promise<void> {
  try {
    await conn.unsafe('begin');
    // No parameters: the simple protocol runs every statement in the file.
    await conn.unsafe(text);
    // A plain SET in the file would outlive the transaction on a pooled connection, and a
    // changed search_path would hide schema_migrations from `record`.
    await conn.unsafe('reset all');
    await record();
    await conn.unsafe('commit');
  } catch (err) {
    const cause = toError(err);
    await conn.unsafe('rollback').catch((rollbackErr: unknown) => {
      log(`rollback after a failed migration also failed: ${toError(rollbackErr).message}`);
    });
    const file = path.basename(filePath);
    throw new MigrationError(
      'failed',
      `migration failed: ${file}: ${oneLine(cause.message)}${lineSuffix(text, cause)}; ` +
        `${version} is now marked dirty: fix the migration, then ${FORCE_HINT}`,
      { cause },
    );
  }
}

async function applyUp(conn: Conn, file: MigrationFile, log: (msg: string) => void): Promise<void> {
  const text = await readSqlText(file.upPath);
  const started = performance.now();
  log(`applying ${path.basename(file.upPath)}`);
  await conn`
    insert into schema_migrations (version, name, dirty, applied_at)
    values (${file.version}, ${file.name}, true, null)
    on conflict (version) do update set name = excluded.name, dirty = true, applied_at = null`;
  await runInTransaction(conn, file.upPath, file.version, text, () =>
    conn`update schema_migrations set dirty = false, applied_at = now() where version = ${file.version}`, log);
  log(`applied ${path.basename(file.upPath)} in ${Math.round(performance.now() - started)} ms`);
}

async function applyDown(conn: Conn, step: Plan['down'][number], log: (msg: string) => void): Promise<void> {
  const text = await readSqlText(step.downPath);
  const started = performance.now();
  log(`reverting ${path.basename(step.downPath)}`);
  await conn`update schema_migrations set dirty = true where version = ${step.row.version}`;
  await runInTransaction(conn, step.downPath, step.row.version, text, () =>
    conn`delete from schema_migrations where version = ${step.row.version}`, log);
  log(`reverted ${path.basename(step.downPath)} in ${Math.round(performance.now() - started)} ms`);
}

/** `force`: a migration that failed going up becomes pending again; one that failed going down stays applied. */
async function clearDirty(conn: Conn, rows: MigrationRow[], log: (msg: string) => void): Promise<void> {
  for (const row of rows) {
    if (row.appliedAt === null) {
      log(`force: ${row.version} (${row.name}) failed while applying; clearing the dirty marker and retrying it`);
      await conn`delete from schema_migrations where version = ${row.version}`;
    } else {
      log(`force: ${row.version} (${row.name}) failed while reverting; clearing the dirty marker, it counts as applied`);
      await conn`update schema_migrations set dirty = false where version = ${row.version}`;
    }
  }
}

// ---- lock ---------------------------------------------------------------------------------------

/** Holds a session advisory lock on one reserved connection; a second migrator waits here. */
async function withMigrationLock<T>(sql: postgres.Sql, log: (msg: string) => void, fn: (conn: Conn) => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  try {
    const [row] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}::bigint) as locked`;
    if (row?.locked !== true) {
      log('another process is migrating this database; waiting for it to finish');
      await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    }
    try {
      return await fn(conn);
    } finally {
      await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`.catch((err: unknown) => {
        // The server frees a session lock when the connection closes, which is the usual cause here.
        log(`could not release the migration lock: ${toError(err).message}`);
      });
    }
  } finally {
    conn.release();
  }
}

// ---- public API ---------------------------------------------------------------------------------

/**
 * Brings the database to `targetVersion` (default: every file applied). Each migration runs in
 * its own transaction under an advisory lock; a failure marks it dirty and later runs refuse
 * until `force`.
 */
export async function runMigrations(sql: postgres.Sql, opts: MigrateOptions): Promise<MigrateResult> {
  const log = opts.log ?? (() => undefined);
  const files = await readMigrationDir(opts.dir);
  const target = opts.targetVersion === undefined ? undefined : resolveTarget(files, opts.targetVersion, opts.dir);

  return withMigrationLock(sql, log, async (conn) => {
    await ensureTable(conn);
    let rows = await readRows(conn);
    const dirty = rows.filter((r) => r.dirty);
    const firstDirty = dirty[0];
    if (firstDirty) {
      if (opts.force !== true) throw dirtyError(firstDirty);
      await clearDirty(conn, dirty, log);
      rows = await readRows(conn);
    }

    const steps = plan(files, rows, target, opts.dir);
    const result: MigrateResult = { applied: [], reverted: [], version: null };
    for (const step of steps.down) {
      await applyDown(conn, step, log);
      result.reverted.push(step.row.version);
    }
    for (const file of steps.up) {
      await applyUp(conn, file, log);
      result.applied.push(file.version);
    }
    if (steps.down.length === 0 && steps.up.length === 0) log('schema is up to date; nothing to do');
    result.version = highestApplied(await readRows(conn));
    return result;
  });
}

/** Every migration known to this build or recorded in the database, oldest first. */
export async function migrationStatus(sql: postgres.Sql, dir: string): Promise<MigrationStatusEntry[]> {
  const files = await readMigrationDir(dir);
  const rows = await readRows(sql);
  const rowByKey = new Map(rows.map((r) => [versionKey(r.version), r]));
  const entries: MigrationStatusEntry[] = files.map((file) => {
    const row = rowByKey.get(versionKey(file.version));
    rowByKey.delete(versionKey(file.version));
    return { version: file.version, name: file.name, applied: isApplied(row), dirty: row?.dirty ?? false, appliedAt: row?.appliedAt ?? null };
  });
  // Rows without a file come from a newer build; list them so nothing is hidden.
  for (const row of rowByKey.values()) {
    entries.push({ version: row.version, name: row.name, applied: isApplied(row), dirty: row.dirty, appliedAt: row.appliedAt });
  }
  return entries.sort((a, b) => compareVersions(a.version, b.version));
}

/** Start-up check: throws `behind` when a migration of this build is not applied, `dirty` when one failed. */
export async function assertSchemaCurrent(sql: postgres.Sql, dir: string): Promise<void> {
  const files = await readMigrationDir(dir);
  const rows = await readRows(sql);
  const firstDirty = rows.find((r) => r.dirty);
  if (firstDirty) throw dirtyError(firstDirty);

  const appliedKeys = new Set(rows.map((r) => versionKey(r.version)));
  const pending = files.filter((f) => !appliedKeys.has(versionKey(f.version)));
  const newest = files.at(-1);
  if (pending.length === 0 || !newest) return;

  const at = highestApplied(rows) ?? 'none';
  const detail = appliedKeys.has(versionKey(newest.version))
    ? `at ${at}, but ${pending.map((f) => f.version).join(', ')} not applied`
    : `at ${at}, this build needs ${newest.version}`;
  throw new MigrationError('behind', `database schema is behind (${detail}): ${MIGRATE_HINT}`);
}
