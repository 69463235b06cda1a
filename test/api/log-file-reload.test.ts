import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli, type CliProcess } from '../support/processes.js';

// The guide's logging set-up on a real API process: logging.output file writes file_path itself (what
// `grep -i "oauth" /var/log/aicli/app.log` reads), and logrotate's postrotate (SIGHUP, `systemctl
// reload`) makes the process reopen it instead of killing it, as Node does by default.
let db: TestDatabase;
let dir = '';
let api: CliProcess;
let plain: CliProcess;

const listening = (text: string) => /API listening on (http:\/\/[\d.]+:\d+)/.exec(text)?.[1];
const readLog = (name: string) => (fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'utf8') : '');

beforeAll(async () => {
  db = await createTestDatabase('logreload');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicli-logreload-'));
  api = spawnCli(['api'], testEnv(testId('logreload'), db.url, {
    PORT: '0',
    LOG_LEVEL: 'info',
    AICLI__LOGGING__OUTPUT: 'file',
    AICLI__LOGGING__FILE_PATH: path.join(dir, 'app.log'),
    AICLI__LOGGING__ACCESS_FILE_PATH: path.join(dir, 'access.log'),
  }));
  plain = spawnCli(['api'], testEnv(testId('logreload2'), db.url, { PORT: '0' }));
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await plain?.stop('SIGKILL');
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('logging.output: file', () => {
  it('writes file_path and the access log, and reopens both on SIGHUP after logrotate moved them, staying up', async () => {
    await expect.poll(() => listening(readLog('app.log')), { timeout: 60_000 }).toBeTruthy();
    const base = listening(readLog('app.log')) as string;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // The request line, with its duration, is in the access log (the guide's `grep "duration" access.log`).
    await expect.poll(() => readLog('access.log'), { timeout: 10_000 }).toMatch(/"route":"\/healthz".*"duration":\d/);
    expect(readLog('app.log')).not.toMatch(/"route":"\/healthz"/);

    fs.renameSync(path.join(dir, 'app.log'), path.join(dir, 'app.log-rotated'));
    fs.renameSync(path.join(dir, 'access.log'), path.join(dir, 'access.log-rotated'));
    api.child.kill('SIGHUP');
    await expect.poll(() => readLog('app.log'), { timeout: 10_000 }).toMatch(/SIGHUP: log file reopened/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await expect.poll(() => readLog('access.log'), { timeout: 10_000 }).toMatch(/"route":"\/healthz"/);
    // The moved files kept what was written before the reload, and nothing after it.
    expect(readLog('app.log-rotated')).toMatch(/API listening/);
    expect(readLog('app.log-rotated')).not.toMatch(/SIGHUP/);
    expect(readLog('access.log-rotated').match(/"route":"\/healthz"/g)).toHaveLength(1);
    expect(api.child.exitCode).toBeNull();
  });

  it('a server logging to stdout survives SIGHUP too', async () => {
    const [, base] = await plain.waitFor(/API listening on (http:\/\/[\d.]+:\d+)/, 60_000);
    plain.child.kill('SIGHUP');
    await plain.waitFor(/SIGHUP: logging goes to stdout/, 10_000);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(plain.child.exitCode).toBeNull();
  });
});
