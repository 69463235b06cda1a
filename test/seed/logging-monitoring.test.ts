import { spawn, execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { openLogs } from '../../src/observability/logger.js';
import { testConfig, testEnv, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { CLI, REPO_ROOT, spawnCli } from '../support/processes.js';
import { apiUrl, scratchDir, writeFile } from './seed-support.js';

// Guide section 8, "로깅 및 모니터링 문제": no log file (the guide's logging block, its directory and its
// logrotate file, run for real), the log level, and metrics Prometheus cannot scrape.
const run = promisify(execFile);
const id = testId('seedlog');
let db: TestDatabase;
let dir = '';

const GUIDE_LOGGING = `# config.yml
logging:
  level: "info"
  format: "json"
  output: "file"
  file_path: "/var/log/aicli/app.log"
  max_size: 100   # MB
  max_backups: 5
  max_age: 30     # days
`;

beforeAll(async () => {
  db = await createTestDatabase('seedlog');
  dir = scratchDir('log');
  chmodSync(dir, 0o755);
});

afterAll(async () => {
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

describe('1. 로그 파일 없음', () => {
  it("the guide's logging block loads as it is: MB, count and days", () => {
    const cwd = scratchDir('logcfg');
    writeFile(cwd, 'config.yml', GUIDE_LOGGING);
    expect(loadConfig({ cwd, env: {} }).config.logging).toMatchObject({
      level: 'info',
      format: 'json',
      output: 'file',
      file_path: '/var/log/aicli/app.log',
      max_size: 100,
      max_backups: 5,
      max_age: 30,
    });
  });

  it("/var/log/aicli the service user cannot write is named with the fix; the guide's mkdir and chown make app.log appear", async () => {
    // The guide's path, as it is, in a mount namespace of this test's own: /var/log is an overlay whose
    // changes land in `upper/`, so the host's /var/log is never touched.
    const cfg = writeFile(dir, 'guide.yml', GUIDE_LOGGING);
    const upper = path.join(dir, 'upper');
    writeFile(dir, 'work/.keep', '');
    writeFile(dir, 'upper/.keep', '');
    const api = `runuser -u nobody -- "$0" "${CLI}" --config "${cfg}" api`;
    const script = [
      `mount -t overlay overlay -o lowerdir=/var/log,upperdir=${upper},workdir=${dir}/work /var/log`,
      // As root makes it: the service user (here nobody) cannot write it.
      'mkdir -p /var/log/aicli && chmod 755 /var/log/aicli',
      `${api}; echo "first run exited $?"`,
      // The guide's step 2.
      'chown nobody /var/log/aicli && chmod 755 /var/log/aicli',
      `exec ${api}`,
    ].join('\n');
    const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...testEnv(id, db.url, { PORT: '0' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const log = path.join(upper, 'aicli/app.log');
    try {
      await expect.poll(() => out, { timeout: 60_000 }).toMatch(/first run exited 1/);
      expect(out).toContain(
        'aicli-web: cannot open the log file /var/log/aicli/app.log (permission denied): make /var/log/aicli writable by this user (mkdir -p /var/log/aicli && chown <user> /var/log/aicli) or change logging.file_path\nfirst run exited 1',
      );
      await expect.poll(() => /API listening on (http:\/\/[\d.]+:\d+)/.exec(read(log))?.[1], { timeout: 60_000 }).toBeTruthy();
      const base = /API listening on (http:\/\/[\d.]+:\d+)/.exec(read(log))?.[1] as string;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // JSON lines at info and above; nothing went to stdout.
      const lines = read(log).trim().split('\n').map((l) => JSON.parse(l) as { level: number });
      expect(lines.every((l) => l.level >= 30)).toBe(true);
      expect(out).not.toMatch(/API listening/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it("the guide's logrotate file, run by logrotate, rotates app.log beside it and the reload makes the API reopen it", async () => {
    const logDir = path.join(dir, 'rotate');
    const proc = spawnCli(['api'], testEnv(id, db.url, { PORT: '0', LOG_LEVEL: 'info', AICLI__LOGGING__OUTPUT: 'file', AICLI__LOGGING__FILE_PATH: path.join(logDir, 'app.log') }));
    try {
      const log = path.join(logDir, 'app.log');
      await expect.poll(() => read(log), { timeout: 60_000 }).toMatch(/API listening/);
      // deploy/aicli.logrotate with this test's directory, and `kill -HUP` for `systemctl reload aicli`
      // (deploy/systemd/aicli.service: ExecReload=/bin/kill -HUP $MAINPID).
      const shipped = readFileSync(path.join(REPO_ROOT, 'deploy/aicli.logrotate'), 'utf8');
      expect(shipped).toMatch(/postrotate\n\s+systemctl reload aicli/);
      expect(readFileSync(path.join(REPO_ROOT, 'deploy/systemd/aicli.service'), 'utf8')).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
      const conf = shipped
        .replace('/var/log/aicli/*.log', `${logDir}/*.log`)
        .replace(/systemctl reload aicli aicli-worker[^\n]*/, `kill -HUP ${proc.child.pid}`);
      const confFile = writeFile(dir, 'logrotate.conf', conf);
      chmodSync(confFile, 0o644);
      await run('logrotate', ['-f', '-s', path.join(dir, 'logrotate.state'), confFile]);
      // The reload is a signal: the API reopens app.log when it has handled it.
      await expect.poll(() => read(log), { timeout: 10_000 }).toMatch(/SIGHUP: log file reopened/);
      // delaycompress: the first rotated file stays plain.
      expect(readdirSync(logDir).sort()).toEqual(['app.log', 'app.log.1']);
      expect(read(path.join(logDir, 'app.log.1'))).toMatch(/API listening/);
      expect(proc.child.exitCode).toBeNull();
    } finally {
      await proc.stop('SIGTERM');
    }
  });
});

describe('2. 로그 레벨 문제', () => {
  it('logging.level decides what is written: warn drops info lines, debug keeps debug lines (structured JSON)', async () => {
    const lines = (level: string) => {
      const file = path.join(dir, `level-${level}.log`);
      const logs = openLogs(testConfig(id, db.url, { logging: { level, output: 'file', file_path: file } }), 'seed');
      logs.logger.debug({ action: 'create_task', user_id: 'u1' }, 'a debug line');
      logs.logger.info({ action: 'create_task', duration: 12 }, 'Task created successfully');
      logs.logger.warn('a warning');
      logs.logger.flush();
      return read(file).trim().split('\n').map((l) => JSON.parse(l) as { msg: string; action?: string; duration?: number });
    };
    expect(lines('warn').map((l) => l.msg)).toEqual(['a warning']);
    const debug = lines('debug');
    expect(debug.map((l) => l.msg)).toEqual(['a debug line', 'Task created successfully', 'a warning']);
    expect(debug[1]).toMatchObject({ action: 'create_task', duration: 12 });
  });
});

describe('3. 메트릭 수집 실패', () => {
  it("/metrics has the guide's two HTTP families; a bearer_token Prometheus does not send is a 401 naming it", async () => {
    const proc = spawnCli(['api'], testEnv(id, db.url, { PORT: '0', AICLI__METRICS__BEARER_TOKEN: 'scrape-token-0123456789' }));
    try {
      const base = await apiUrl(proc);
      await fetch(`${base}/healthz`);
      const refused = await fetch(`${base}/metrics`);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { message: string }).message).toBe('/metrics needs Authorization: Bearer <metrics.bearer_token>');
      // The remedy: the token in Prometheus' `authorization` block (deploy/prometheus.yml).
      const text = await (await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789' } })).text();
      expect(text).toMatch(/^http_requests_total\{method="GET",endpoint="\/healthz",status_code="200"\} \d+/m);
      expect(text).toMatch(/^http_request_duration_seconds_bucket\{[^}]*method="GET"[^}]*endpoint="\/healthz"[^}]*\} \d+/m);
    } finally {
      await proc.stop('SIGTERM');
    }
  });

  it("deploy/prometheus.yml carries the guide's scrape job as it is", () => {
    const prom = parse(readFileSync(path.join(REPO_ROOT, 'deploy/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }>; metrics_path: string; scrape_interval: string }>;
    };
    expect(prom.scrape_configs.find((j) => j.job_name === 'aicli-web')).toEqual({
      job_name: 'aicli-web',
      static_configs: [{ targets: ['localhost:8080'] }],
      metrics_path: '/metrics',
      scrape_interval: '15s',
    });
  });
});
