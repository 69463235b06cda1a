import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { databaseUrl, type Config } from '../../config/index.js';
import type { CommandContext } from '../context.js';
import { connectDatabase } from '../context.js';
import { StartupError } from '../fatal.js';

// The guide's FAQ backup (`pg_dump … > backup_YYYYMMDD.sql`) and its restore with psql, run with the database
// settings of the config file, so an operator does not retype them. Everything of value is in Postgres (users,
// workspaces with their sealed secrets, tasks, events, artifacts, audit); Redis holds only the queue, which
// the reconciler rebuilds from the queued rows. Not in the dump: secrets.master_key and auth.jwt.secret_key,
// which live in the config (back them up with it, docs/backup.md).

/** libpq's environment for the configured database: the password stays out of the process list. */
export function pgEnvironment(db: Config['database']): Record<string, string> {
  const url = new URL(databaseUrl(db));
  const env: Record<string, string> = {
    PGHOST: decodeURIComponent(url.hostname.replace(/^\[|\]$/g, '')),
    PGPORT: url.port || '5432',
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
  };
  if (url.username) env.PGUSER = decodeURIComponent(url.username);
  if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
  const sslmode = url.searchParams.get('sslmode') ?? url.searchParams.get('ssl');
  if (sslmode) env.PGSSLMODE = sslmode === 'true' ? 'require' : sslmode;
  return env;
}

const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

/** Runs a PostgreSQL client tool; a missing tool or a failure is one line with the tool's own reason. */
async function runTool(tool: string, args: string[], db: Config['database'], io: { stdout?: NodeJS.WritableStream; stdin?: NodeJS.ReadableStream }): Promise<void> {
  const child = spawn(tool, args, {
    env: { ...process.env, ...pgEnvironment(db) },
    stdio: [io.stdin ? 'pipe' : 'ignore', io.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  if (io.stdout && child.stdout) child.stdout.pipe(io.stdout, { end: false });
  if (io.stdin && child.stdin) io.stdin.pipe(child.stdin);
  // Not events.once(child, 'close'): it rejects with the raw 'error' (ENOENT) before the message below is made.
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('close', (c: number | null) => resolve(c));
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(new StartupError(`${tool} not found: install the PostgreSQL client tools of the server's major version or newer (apt-get install postgresql-client), or put ${tool} on PATH`));
      } else reject(new StartupError(`${tool} could not start: ${e.message}`));
    });
  });
  if (code !== 0) {
    const reason = stderr.trim().split('\n').find((l) => /error|fatal/i.test(l)) ?? stderr.trim().split('\n')[0] ?? `exit ${code}`;
    throw new StartupError(`${tool} failed: ${reason.trim()}`);
  }
}

export async function backupCommand(ctx: CommandContext, opts: { output?: string }): Promise<void> {
  const db = ctx.config.database;
  const target = path.resolve(opts.output ?? `backup_${today()}.sql`);
  if (existsSync(target)) throw new StartupError(`backup: ${target} exists already: remove it or give another --output`);
  // Written beside the target and renamed when pg_dump succeeded: a failed dump never looks like a backup.
  // 0600: the dump holds password hashes and sealed secrets.
  const partial = `${target}.partial`;
  const out = createWriteStream(partial, { mode: 0o600 });
  try {
    // Plain SQL that any psql restores; no owners or grants, so it restores as whichever role runs psql.
    await runTool('pg_dump', ['--format=plain', '--no-owner', '--no-privileges', '--quote-all-identifiers'], db, { stdout: out });
    out.end();
    await once(out, 'finish');
    renameSync(partial, target);
  } catch (err) {
    out.destroy();
    rmSync(partial, { force: true });
    throw err;
  }
  process.stdout.write(`backup written to ${target} (database ${pgEnvironment(db).PGDATABASE}); keep the config file with it: secrets.master_key opens the workspace secrets in it\n`);
}

/** Tables of the target database's own (not the system catalogs): a restore goes into a database that has none. */
async function tableCount(ctx: CommandContext): Promise<number> {
  const sql = await connectDatabase(ctx.config);
  try {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')`;
    return row?.n ?? 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function restoreCommand(ctx: CommandContext, opts: { input: string }): Promise<void> {
  const db = ctx.config.database;
  const source = path.resolve(opts.input);
  if (!existsSync(source)) throw new StartupError(`restore: ${source} not found: give the file aicli-web backup (or pg_dump) wrote`);
  const name = pgEnvironment(db).PGDATABASE;
  const tables = await tableCount(ctx);
  if (tables > 0) {
    throw new StartupError(
      `restore: database ${name} is not empty (${tables} tables): restore into a new one (createdb ${name}_restored, then DATABASE_URL or database.database names it), never over live data`,
    );
  }
  // One transaction, stopping at the first error: a restore that fails leaves the database empty, not half-filled.
  await runTool('psql', ['--no-psqlrc', '--quiet', '--set=ON_ERROR_STOP=1', '--single-transaction', '--output=/dev/null'], db, { stdin: createReadStream(source) });
  const sql = await connectDatabase(ctx.config);
  try {
    const [counts] = await sql<{ version: string | null; users: number; workspaces: number; tasks: number }[]>`
      select (select max(version) from schema_migrations where not dirty) as version,
             (select count(*)::int from users) as users,
             (select count(*)::int from workspaces) as workspaces,
             (select count(*)::int from tasks) as tasks`;
    process.stdout.write(
      `restored ${source} into ${name}: schema at ${counts?.version ?? 'none'}, ${counts?.users} users, ${counts?.workspaces} workspaces, ${counts?.tasks} tasks; run aicli-web migrate if this build is newer\n`,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
}
