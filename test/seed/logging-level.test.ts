import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli, spawnCli, type CliProcess } from '../support/processes.js';

// The guide's "로그 레벨 문제" (log level problem): the level follows ENVIRONMENT (production: warn, staging:
// info, development: debug, anything else we accept: info) unless logging.level (or LOG_LEVEL) is set. Each
// case is a real API process; its stdout shows which levels it wrote: a debug line (`configuration loaded`,
// at start), an info line (`API listening`) and a warn line (a request cut by server.read_timeout, caused for
// real by a client that stops sending its headers).
const DEBUG = 20;
const INFO = 30;
const WARN = 40;

let db: TestDatabase;
let dir: string;
const started: CliProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('loglevel');
  dir = mkdtempSync(path.join(tmpdir(), 'aicli-loglevel-'));
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends half a request line and headers, then nothing: the server cuts it at server.read_timeout (a warn line). */
function stallRequest(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

const levelsOf = (output: string): Set<number> =>
  new Set(
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { level: number }).level),
  );

/** Runs the API with `env`, causes one warn line, stops it, and answers the levels it wrote. */
async function levelsWritten(env: Record<string, string>, args: string[] = []): Promise<{ levels: Set<number>; output: string }> {
  const port = await freePort();
  const api = spawnCli([...args, 'api'], {
    ...testEnv(testId('lvl'), db.url),
    PORT: String(port),
    AICLI__SERVER__READ_TIMEOUT: '1s',
    // ENVIRONMENT=production refuses to start with an open /metrics.
    AICLI__METRICS__BEARER_TOKEN: 'a-metrics-token-of-the-test-0123456789',
    ...env,
  });
  started.push(api);
  // Polled, not read from the log: at warn the process never says it listens.
  await expect
    .poll(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status ?? 0, { timeout: 60_000, interval: 200 })
    .toBe(200);
  const answer = await stallRequest(port);
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  await api.waitFor(/"action":"read_timeout"/, 10_000);
  expect((await api.stop('SIGTERM')).code).toBe(0);
  return { levels: levelsOf(api.output()), output: api.output() };
}

describe('the log level by ENVIRONMENT', () => {
  it('development writes debug, info and warn lines', async () => {
    const { levels, output } = await levelsWritten({ ENVIRONMENT: 'development' });
    expect([...levels].sort()).toEqual([DEBUG, INFO, WARN]);
    expect(output).toMatch(/"action":"config_loaded".*"environment":"development","log_level":"debug","log_level_from":"environment"/);
  });

  it('staging writes info and warn lines, no debug', async () => {
    const { levels, output } = await levelsWritten({ ENVIRONMENT: 'staging' });
    expect([...levels].sort()).toEqual([INFO, WARN]);
    expect(output).toContain('API listening on');
  });

  it('production writes warn lines only', async () => {
    const { levels, output } = await levelsWritten({ ENVIRONMENT: 'production' });
    expect([...levels]).toEqual([WARN]);
    expect(output).not.toContain('API listening on');
    expect(output).toContain('timeout: a request was not received within server.read_timeout');
  });

  it('test (our fourth environment, the guide\'s default branch) writes info, no debug', async () => {
    const { levels } = await levelsWritten({ ENVIRONMENT: 'test' });
    expect([...levels].sort()).toEqual([INFO, WARN]);
  });
});

describe('logging.level set', () => {
  it('in the config file wins over ENVIRONMENT=production (debug lines appear)', async () => {
    const file = path.join(dir, 'debug.yml');
    writeFileSync(file, 'logging:\n  level: "debug"\n  format: "json"\n');
    const { levels, output } = await levelsWritten({ ENVIRONMENT: 'production' }, ['--config', file]);
    expect([...levels].sort()).toEqual([DEBUG, INFO, WARN]);
    expect(output).toMatch(/"log_level":"debug","log_level_from":"logging.level"/);
  });

  it('as the guide\'s "info" by LOG_LEVEL wins over ENVIRONMENT=development (no debug lines)', async () => {
    const { levels } = await levelsWritten({ ENVIRONMENT: 'development', LOG_LEVEL: 'info' });
    expect([...levels].sort()).toEqual([INFO, WARN]);
  });
});

describe('an ENVIRONMENT this system does not know', () => {
  it('is refused at start with one line naming the key and the values it takes', async () => {
    const { code, output } = await runCli(['api'], { ...testEnv(testId('lvl'), db.url), ENVIRONMENT: 'prod' });
    expect(code).toBe(1);
    expect(output).toMatch(/^aicli-web: failed to load configuration: environment: .*'development' \| 'staging' \| 'production' \| 'test'.*'prod'/m);
    expect(output).not.toMatch(/\n\s+at /);
  });
});
