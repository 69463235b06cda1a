import { spawn } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { loadConfig } from '../../src/config/index.js';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { freePort, startPrivatePostgres, type PrivatePostgres } from '../support/private-services.js';
import { CLI, runCli, spawnCli, type CliProcess } from '../support/processes.js';
import { apiUrl, expectOneLineFailure, holdPort, scratchDir, writeFile } from './seed-support.js';

// Guide section 1, "시스템 시작 및 설정 문제": the server that cannot bind, the configuration that is missing
// or broken, and the database that refuses; each caused with the real CLI, then remedied as the guide says.
const id = testId('seedstart');
let db: TestDatabase;
let dir = '';
const running: CliProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('seedstart');
  dir = scratchDir('start');
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The test's isolation as env; a key given as null is left out (DATABASE_URL would win over the config file). */
const env = (extra: Record<string, string | null> = {}): Record<string, string> => {
  const all: Record<string, string | null> = { ...testEnv(id, db.url), ...extra };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null));
};

/** Starts `aicli-web <args>` and answers the port it listens on (stopped in afterAll). */
async function startApi(args: string[], extra: Record<string, string | null>, cwd = dir): Promise<number> {
  const proc = spawnCli(args, env(extra), cwd);
  running.push(proc);
  const url = await apiUrl(proc);
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  await proc.stop('SIGTERM');
  return Number(new URL(url).port);
}

describe('1. 서버 시작 실패: listen tcp :8080: bind: address already in use', () => {
  it('names the port and the fix; freeing the port (lsof, kill), server.port or PORT each get it started', async () => {
    const held = await holdPort();
    const r = await runCli(['api'], env({ PORT: String(held.port) }), dir);
    expectOneLineFailure(
      r,
      new RegExp(`^aicli-web: failed to initialize server: listen tcp 127\\.0\\.0\\.1:${held.port}: bind: address already in use: stop the other process \\(lsof -i :${held.port}\\) or set server\\.port / PORT$`),
    );

    // Step 1: the guide's `lsof -i :8080` finds the holder (this test process).
    const lsof = await new Promise<string>((resolve) => {
      const p = spawn('lsof', ['-nP', `-iTCP:${held.port}`, '-sTCP:LISTEN']);
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.on('close', () => resolve(out));
    });
    expect(lsof).toMatch(new RegExp(`\\b${process.pid}\\b`));

    // Step 2: another port in the config file, as the guide's snippet does (the port itself must be free here).
    const other = await freePort();
    const file = writeFile(dir, 'port.yml', `# config.yml에서 다른 포트로 변경\nserver:\n  port: ${other}  # 사용 가능한 다른 포트\n`);
    expect(await startApi(['--config', file, 'api'], {})).toBe(other);

    // Step 3: `export PORT=8081`.
    const viaEnv = await freePort();
    expect(await startApi(['api'], { PORT: String(viaEnv) })).toBe(viaEnv);

    // And once the other process is gone (`kill <PID>`), the original port works.
    await held.release();
    expect(await startApi(['api'], { PORT: String(held.port) })).toBe(held.port);
  });

  it("the guide's server.port snippet loads as it is", () => {
    const cwd = scratchDir('port');
    writeFile(cwd, 'config.yml', '# config.yml에서 다른 포트로 변경\nserver:\n  port: 8081  # 사용 가능한 다른 포트\n');
    expect(loadConfig({ cwd, env: {} }).config.server.port).toBe(8081);
    expect(loadConfig({ cwd, env: { PORT: '8082' } }).config.server.port).toBe(8082);
  });
});

describe('2. 설정 파일 로드 실패: failed to load configuration: config file not found', () => {
  it('--config and CONFIG_FILE naming a missing file fail with the path; creating it is the remedy', async () => {
    const cwd = scratchDir('named');
    expectOneLineFailure(
      await runCli(['--config', './configs/production.yml'], env(), cwd),
      /^aicli-web: failed to load configuration: config file not found: \.\/configs\/production\.yml$/,
    );
    expectOneLineFailure(
      await runCli([], env({ CONFIG_FILE: './configs/production.yml' }), cwd),
      /^aicli-web: failed to load configuration: config file not found: \.\/configs\/production\.yml$/,
    );
    const port = await freePort();
    writeFile(cwd, 'configs/production.yml', `server:\n  port: ${port}\n`);
    // `./aicli-web --config ./configs/production.yml` and `CONFIG_FILE=... ./aicli-web`: no subcommand is the API.
    expect(await startApi(['--config', './configs/production.yml'], {}, cwd)).toBe(port);
    expect(await startApi([], { CONFIG_FILE: './configs/production.yml' }, cwd)).toBe(port);
  });

  it('finds ./config.yml, then ./configs/config.yml; --config wins over CONFIG_FILE, which wins over the search', async () => {
    const cwd = scratchDir('search');
    const [a, b, c, d] = [await freePort(), await freePort(), await freePort(), await freePort()];
    writeFile(cwd, 'configs/config.yml', `server:\n  port: ${b}\n`);
    expect(await startApi(['api'], {}, cwd)).toBe(b);
    writeFile(cwd, 'config.yml', `server:\n  port: ${a}\n`);
    expect(await startApi(['api'], {}, cwd)).toBe(a);
    writeFile(cwd, 'env.yml', `server:\n  port: ${c}\n`);
    writeFile(cwd, 'flag.yml', `server:\n  port: ${d}\n`);
    expect(await startApi(['api'], { CONFIG_FILE: 'env.yml' }, cwd)).toBe(c);
    expect(await startApi(['--config', 'flag.yml', 'api'], { CONFIG_FILE: 'env.yml' }, cwd)).toBe(d);
  });

  it('finds /etc/aicli/config.yml last (in a private mount namespace, so no other process on the host sees it)', async () => {
    const cwd = scratchDir('etc');
    const port = await freePort();
    writeFile(cwd, 'upper/aicli/config.yml', `server:\n  port: ${port}\n`);
    writeFile(cwd, 'work/.keep', '');
    rmSync(path.join(cwd, 'work/.keep'));
    const script = `mount -t overlay overlay -o lowerdir=/etc,upperdir=${cwd}/upper,workdir=${cwd}/work /etc && exec "$0" "$@"`;
    const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, CLI, 'api'], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root', ...env({}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await expect.poll(() => out, { timeout: 60_000 }).toMatch(/API listening on http:\/\/[\d.]+:\d+/);
      expect(out).toMatch(new RegExp(`API listening on http://[\\d.]+:${port}\\b`));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an unreadable file says chmod 644; after chmod 644 it loads (run as nobody: root reads anything)', async () => {
    const cwd = scratchDir('perm');
    chmodSync(cwd, 0o755);
    const port = await freePort();
    const file = writeFile(cwd, 'config.yml', `server:\n  port: ${port}\n`);
    chmodSync(file, 0o000);
    const asNobody = () =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn('runuser', ['-u', 'nobody', '--', process.execPath, CLI, '--config', file, 'migrate', '--status'], {
          cwd,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env() },
        });
        let stderr = '';
        p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        p.on('close', (code) => resolve({ code, stderr }));
      });
    expectOneLineFailure(await asNobody(), new RegExp(`^aicli-web: failed to load configuration: cannot read ${file} \\(permission denied: chmod 644 the file\\)$`));
    chmodSync(file, 0o644);
    const fixed = await asNobody();
    expect(fixed.stderr).toBe('');
    expect(fixed.code).toBe(0);
  });

  it('a YAML syntax error names the file, line and column; the corrected file loads', async () => {
    const cwd = scratchDir('yaml');
    const file = writeFile(cwd, 'config.yml', 'server:\n  port: 8080\n  read_timeout: [30s\n');
    expectOneLineFailure(await runCli(['api'], env(), cwd), new RegExp(`^aicli-web: failed to load configuration: ${file}: YAML syntax error at line \\d+, column \\d+: `));
    const port = await freePort();
    writeFile(cwd, 'config.yml', `server:\n  port: ${port}\n  read_timeout: 30s\n`);
    expect(await startApi(['api'], {}, cwd)).toBe(port);
  });
});

describe('3. 데이터베이스 연결 실패: dial tcp 127.0.0.1:5432: connect: connection refused', () => {
  let pg: PrivatePostgres;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    const admin = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create role aicli_user login password 'your_password'`);
    await admin.unsafe('create database aicli owner aicli_user');
    await admin.end();
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it("the guide's database block, with PostgreSQL down, names host and port and the fix; started, the system comes up", async () => {
    const cwd = scratchDir('db');
    // The guide's block as it is, with the port of this test's own server.
    writeFile(
      cwd,
      'config.yml',
      `# config.yml\ndatabase:\n  host: "localhost"\n  port: ${pg.port}\n  user: "aicli_user"\n  password: "your_password"\n  database: "aicli"\n  ssl_mode: "disable"\n`,
    );
    const dbEnv = { DATABASE_URL: null, PORT: '0' };
    expect(loadConfig({ cwd, env: {} }).config.database).toMatchObject({ host: 'localhost', user: 'aicli_user', password: 'your_password', database: 'aicli', ssl_mode: 'disable' });

    await pg.stop();
    expectOneLineFailure(
      await runCli(['api'], env(dbEnv), cwd),
      new RegExp(`^aicli-web: failed to connect to database: dial tcp (localhost|127\\.0\\.0\\.1):${pg.port}: connect: connection refused: start PostgreSQL \\(scripts/setup-host\\.sh\\) or fix database\\.host/port or DATABASE_URL$`),
    );
    // `sudo systemctl start postgresql`, here pg_ctl start; then migrate and start.
    await pg.start();
    const migrated = await runCli(['migrate'], env(dbEnv), cwd);
    expect(migrated.code, migrated.output).toBe(0);
    const proc = spawnCli(['api'], env(dbEnv), cwd);
    running.push(proc);
    const url = await apiUrl(proc);
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 30_000 }).toBe(200);
    await proc.stop('SIGTERM');
  });

  it('a wrong database name or host name each says which key to fix', async () => {
    expectOneLineFailure(
      await runCli(['api'], env({ DATABASE_URL: pg.url('aicli_missing') }), dir),
      /failed to connect to database: database "aicli_missing" does not exist: create it \(createdb\) or set database\.database \/ DATABASE_URL$/,
    );
    expectOneLineFailure(
      await runCli(['api'], env({ DATABASE_URL: `postgres://aicli_user@database.invalid:${pg.port}/aicli` }), dir),
      /failed to connect to database: lookup of database\.invalid:\d+ failed: fix database\.host or DATABASE_URL$/,
    );
  });
});
