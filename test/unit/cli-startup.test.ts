import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';
import { PG_ADMIN_URL, pgUrl } from '../support/services.js';

// Each start-up failure is spawned as a real process: one line on stderr naming cause and fix, exit code 1.
const id = testId('cli');
let db: TestDatabase;
let dir: string;
let emptyDb = '';

beforeAll(async () => {
  db = await createTestDatabase('cli');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-cli-'));
  emptyDb = `aicli_t_empty_${id}`.toLowerCase();
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${emptyDb}`);
  await admin.end();
});

afterAll(async () => {
  await db?.drop();
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${emptyDb} with (force)`);
  await admin.end();
});

function expectOneLineFailure(r: { code: number | null; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('aicli-web start-up errors', () => {
  it('a named config file that is missing', async () => {
    const r = await runCli(['--config', '/nonexistent/aicli.yml', 'api'], testEnv(id, db.url), dir);
    expectOneLineFailure(r, /^aicli-web: failed to load configuration: config file not found: \/nonexistent\/aicli\.yml$/);
  });

  it('CONFIG_FILE naming a missing file', async () => {
    const r = await runCli(['api'], { ...testEnv(id, db.url), CONFIG_FILE: './configs/production.yml' }, dir);
    expectOneLineFailure(r, /config file not found: \.\/configs\/production\.yml/);
  });

  it('a YAML syntax error names the file and line', async () => {
    const file = path.join(dir, 'broken.yml');
    writeFileSync(file, 'server:\n  port: 8080\n  host: [unclosed\n');
    const r = await runCli(['--config', file, 'api'], testEnv(id, db.url), dir);
    expectOneLineFailure(r, /failed to load configuration: .*broken\.yml: YAML syntax error at line \d+/);
  });

  it('a misspelt key is named', async () => {
    const file = path.join(dir, 'typo.yml');
    writeFileSync(file, 'server:\n  prot: 8081\n');
    const r = await runCli(['--config', file, 'api'], testEnv(id, db.url), dir);
    expectOneLineFailure(r, /unknown key server\.prot/);
  });

  it('a value of the wrong type names its key path', async () => {
    const file = path.join(dir, 'type.yml');
    writeFileSync(file, 'queue:\n  attempts: many\n');
    const r = await runCli(['--config', file, 'api'], testEnv(id, db.url), dir);
    expectOneLineFailure(r, /queue\.attempts: /);
  });

  it('Postgres refusing connections', async () => {
    const r = await runCli(['api'], testEnv(id, 'postgres://postgres@127.0.0.1:1/aicli'), dir);
    expectOneLineFailure(r, /failed to connect to database: dial tcp 127\.0\.0\.1:1: connect: connection refused: start PostgreSQL/);
  });

  it('Redis refusing connections', async () => {
    const r = await runCli(['api'], { ...testEnv(id, db.url), REDIS_URL: 'redis://127.0.0.1:1' }, dir);
    expectOneLineFailure(r, /failed to connect to redis at redis:\/\/127\.0\.0\.1:1: .*start redis-server/);
  });

  it('a schema that is behind says to run aicli-web migrate', async () => {
    const r = await runCli(['api'], testEnv(id, pgUrl(emptyDb)), dir);
    expectOneLineFailure(r, /schema is behind.*run `aicli-web migrate`/);
  });

  it('the port in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await runCli(['api'], { ...testEnv(id, db.url), PORT: String(port) }, dir);
      expectOneLineFailure(r, new RegExp(`listen tcp 127\\.0\\.0\\.1:${port}: bind: address already in use: .*PORT`));
    } finally {
      blocker.close();
    }
  });

  it('a missing JWT secret outside development', async () => {
    const env = testEnv(id, db.url);
    delete (env as Record<string, string | undefined>).JWT_SECRET_KEY;
    const r = await runCli(['api'], { ...env, ENVIRONMENT: 'production' }, dir);
    expectOneLineFailure(r, /auth\.jwt\.secret_key is not set: set JWT_SECRET_KEY/);
  });
});

describe('aicli-web migrate and users', () => {
  it('migrates a fresh database, then is a no-op, and lists status', async () => {
    const env = testEnv(id, pgUrl(emptyDb));
    const first = await runCli(['migrate'], env, dir);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/applied 0001/);
    const second = await runCli(['migrate'], env, dir);
    expect(second.code).toBe(0);
    expect(second.output).toMatch(/no change/);
    const status = await runCli(['migrate', '--status'], env, dir);
    expect(status.output).toMatch(/^0001\s+init\s+applied/m);
  });

  it('creates a user and refuses a duplicate with one line', async () => {
    const env = testEnv(id, db.url);
    const ok = await runCli(['users', 'create', '--email', 'ops@example.com', '--password', 'long enough pw', '--role', 'admin'], env, dir);
    expect(ok.code, ok.output).toBe(0);
    expect(JSON.parse(ok.output.trim().split('\n').pop() as string)).toMatchObject({ email: 'ops@example.com', role: 'admin' });
    const dup = await runCli(['users', 'create', '--email', 'OPS@example.com', '--password', 'long enough pw'], env, dir);
    expectOneLineFailure(dup, /already exists/);
    const weak = await runCli(['users', 'create', '--email', 'x@example.com', '--password', 'short'], env, dir);
    expectOneLineFailure(weak, /--password must have at least 8 characters/);
  });
});
