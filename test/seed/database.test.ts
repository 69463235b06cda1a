import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { loadConfig } from '../../src/config/index.js';
import { createSql } from '../../src/db/client.js';
import { testEnv, testId } from '../support/config.js';
import { startPrivatePostgres, type PrivatePostgres } from '../support/private-services.js';
import { runCli, spawnCli } from '../support/processes.js';
import { PG_ADMIN_URL, pgUrl } from '../support/services.js';
import { apiUrl, expectOneLineFailure, scratchDir, writeFile } from './seed-support.js';

// Guide section 4, "데이터베이스 문제": every connection slot taken (`too many clients already`), a migration
// that fails half-way on `column … already exists` and is repaired with --version and --force, and slow
// queries found with pg_stat_statements and our slow-query log.
const id = testId('seeddb');

describe('1. 연결 풀 고갈: pq: sorry, too many clients already', () => {
  let pg: PrivatePostgres;
  beforeAll(async () => {
    // A server with 10 slots, and pg_stat_statements loaded for section 3 below.
    pg = await startPrivatePostgres({ max_connections: 10, superuser_reserved_connections: 1, shared_preload_libraries: 'pg_stat_statements' });
    const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe('create database aicli');
    await admin.end();
    const migrated = await runCli(['migrate'], testEnv(id, pg.url('aicli')));
    expect(migrated.code, migrated.output).toBe(0);
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('names the cause and the fix when every slot is taken; ending the leaked sessions lets the API start', async () => {
    // Another client that leaks connections holds every slot.
    const leak = postgres(pg.url('aicli'), { max: 10, onnotice: () => {}, connection: { application_name: 'leaky-client' } });
    await Promise.all(Array.from({ length: 10 }, () => leak`select pg_sleep(0.2)`.catch(() => undefined)));
    const r = await runCli(['api'], testEnv(id, pg.url('aicli'), { PORT: '0' }));
    expectOneLineFailure(r, /^aicli-web: failed to connect to database: sorry, too many clients already: lower database\.max_open_conns or raise max_connections$/);

    // The guide's step 2 finds them (run with the server's last slot freed: here the leaker closes one).
    await leak.end({ timeout: 5 });
    const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
    try {
      const leak2 = postgres(pg.url('aicli'), { max: 5, onnotice: () => {}, connection: { application_name: 'leaky-client' } });
      await Promise.all(Array.from({ length: 5 }, () => leak2`select 1`));
      const states = await admin`
        SELECT state, count(*)::int AS n
        FROM pg_stat_activity
        WHERE datname = 'aicli'
        GROUP BY state`;
      expect(states).toEqual([{ state: 'idle', n: 5 }]);
      // Ending them is the remedy for a leak (the fix is in the leaking client).
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'leaky-client'`;
      await leak2.end({ timeout: 1 }).catch(() => undefined);
    } finally {
      await admin.end();
    }
    const proc = spawnCli(['api'], testEnv(id, pg.url('aicli'), { PORT: '0', AICLI__DATABASE__MAX_OPEN_CONNS: '4' }));
    try {
      const url = await apiUrl(proc);
      await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 30_000 }).toBe(200);
    } finally {
      await proc.stop('SIGTERM');
    }
  });

  it("the guide's pool blocks load as they are and size the pool: max_open_conns, lifetimes and conn_max_idle_time", async () => {
    for (const [text, want] of [
      [
        '# config.yml\ndatabase:\n  max_open_conns: 100    # 기본값 증가\n  max_idle_conns: 10\n  conn_max_lifetime: 1h\n  conn_max_idle_time: 5m\n',
        { max: 100, max_lifetime: 3600, idle_timeout: 300 },
      ],
      [
        '# config.yml\ndatabase:\n  max_open_conns: 50     # 연결 수 조정\n  max_idle_conns: 25     # 유휴 연결 수 조정\n  conn_max_lifetime: 30m # 연결 재사용 시간\n  conn_max_idle_time: 5m # 유휴 연결 타임아웃\n',
        { max: 50, max_lifetime: 1800, idle_timeout: 300 },
      ],
    ] as const) {
      const cwd = scratchDir('pool');
      writeFile(cwd, 'config.yml', text);
      const { config } = loadConfig({ cwd, env: { DATABASE_URL: pg.url('aicli') } });
      const sql = createSql(config.database);
      try {
        expect(sql.options).toMatchObject(want);
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
  });

  it('conn_max_idle_time closes an idle connection once it passes (1s here)', async () => {
    const cwd = scratchDir('idle');
    writeFile(cwd, 'config.yml', 'database:\n  max_open_conns: 2\n  conn_max_idle_time: 1s\n');
    const { config } = loadConfig({ cwd, env: { DATABASE_URL: pg.url('aicli') } });
    const sql = createSql(config.database, { applicationName: 'idle-probe' });
    const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
    try {
      await sql`select 1`;
      const count = async () => (await admin`select count(*)::int as n from pg_stat_activity where application_name = 'idle-probe'`)[0]?.n as number;
      expect(await count()).toBe(1);
      await expect.poll(count, { timeout: 10_000, interval: 200 }).toBe(0);
    } finally {
      await admin.end();
      await sql.end({ timeout: 5 });
    }
  });

  describe('3. 쿼리 성능 저하', () => {
    it("the guide's pg_stat_statements query needs the PostgreSQL 13+ column names; the documented one lists our queries", async () => {
      const admin = postgres(pg.url('aicli'), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        await admin`select count(*) from workspaces where owner_id = ${'00000000-0000-4000-8000-000000000000'}`;
        await expect(admin.unsafe('SELECT query, mean_time, calls, total_time FROM pg_stat_statements ORDER BY total_time DESC LIMIT 10')).rejects.toThrow(
          /column "mean_time" does not exist/,
        );
        const rows = await admin.unsafe(
          'SELECT query, mean_exec_time, calls, total_exec_time FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10',
        );
        expect(rows.length).toBeGreaterThan(0);
        expect(rows[0]).toHaveProperty('mean_exec_time');
        // The guide's step 2 indexes exist already (same leading columns, our names): no CREATE INDEX is needed.
        const defs = (await admin`select indexdef from pg_indexes where tablename in ('workspaces', 'tasks')`).map((r) => r.indexdef as string);
        for (const leading of [/ON public\.workspaces USING btree \(owner_id\b/, /ON public\.tasks USING btree \(workspace_id\b/, /ON public\.tasks USING btree \(status, created_at\b/]) {
          expect(defs.some((d) => leading.test(d)), String(leading)).toBe(true);
        }
      } finally {
        await admin.end();
      }
    });

    it('database.slow_query_ms logs a slow query with its duration and SQL text', async () => {
      const slow: Array<{ durationMs: number; query: string }> = [];
      const cwd = scratchDir('slow');
      writeFile(cwd, 'config.yml', 'database:\n  slow_query_ms: 100\n');
      const { config } = loadConfig({ cwd, env: { DATABASE_URL: pg.url('aicli') } });
      const sql = createSql(config.database, { onSlowQuery: (q) => slow.push(q) });
      try {
        await sql`select pg_sleep(0.3)`;
        await sql`select 1`;
      } finally {
        await sql.end({ timeout: 5 });
      }
      expect(slow).toHaveLength(1);
      expect(slow[0]?.query).toMatch(/pg_sleep/);
      expect(slow[0]?.durationMs).toBeGreaterThanOrEqual(300);
    });
  });
});

describe('2. 마이그레이션 실패: migration failed: column "new_column" already exists', () => {
  const name = `aicli_t_seedmig_${randomBytes(4).toString('hex')}`;
  let sql: postgres.Sql;
  beforeAll(async () => {
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    sql = postgres(pgUrl(name), { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  it('fails half-way, is marked dirty and refused; fixing the schema and `migrate --version` with `--force` repairs it', async () => {
    const env = testEnv(id, pgUrl(name));
    const upTo3 = await runCli(['migrate', '--version', '0003'], env);
    expect(upTo3.code, upTo3.output).toBe(0);
    expect(upTo3.output).toMatch(/schema at 0003/);
    // A column added by hand (a migration run twice, or a hotfix): 0004 adds it too.
    await sql`ALTER TABLE workspaces ADD COLUMN egress jsonb`;

    const failed = await runCli(['migrate'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toBe(
      'aicli-web: migration failed: 0004_workspace_secrets.sql: column "egress" of relation "workspaces" already exists; 0004 is now marked dirty: fix the migration, then run `aicli-web migrate --force`',
    );
    // Half-way: 0004's earlier statements were rolled back with it.
    expect((await sql`select to_regclass('workspace_secrets') as t`)[0]?.t).toBeNull();
    // The guide's step 1.
    const rows = await sql`SELECT version, dirty FROM schema_migrations ORDER BY version`;
    expect(rows.map((r) => `${r.version}:${r.dirty}`)).toEqual(['0001:false', '0002:false', '0003:false', '0004:true']);
    // Nothing starts on a dirty schema, and a plain migrate refuses too.
    expectOneLineFailure(await runCli(['api'], { ...env, PORT: '0' }), /database is dirty at migration 0004.*run `aicli-web migrate --force`/);
    expectOneLineFailure(await runCli(['migrate'], env), /^aicli-web: database is dirty at migration 0004.*: fix the schema by hand, then run `aicli-web migrate --force`$/);

    // The guide's step 2 (the schema by hand) and step 3 (`migrate --version`, `migrate --force`).
    await sql`ALTER TABLE IF EXISTS workspaces DROP COLUMN IF EXISTS egress`;
    const forced = await runCli(['migrate', '--version', '0004', '--force'], env);
    expect(forced.code, forced.output).toBe(0);
    expect(forced.output).toMatch(/force: 0004 .* clearing the dirty marker and retrying it/);
    expect(forced.output).toMatch(/applied 0004; schema at 0004/);
    const rest = await runCli(['migrate'], env);
    expect(rest.code, rest.output).toBe(0);
    const status = await runCli(['migrate', '--status'], env);
    expect(status.output).not.toMatch(/dirty|pending/);
    const proc = spawnCli(['api'], { ...env, PORT: '0' });
    try {
      const url = await apiUrl(proc);
      await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 30_000 }).toBe(200);
    } finally {
      await proc.stop('SIGTERM');
    }
  });
});
