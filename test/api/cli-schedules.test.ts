import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/api/server.js';
import { schedulerId } from '../../src/queue/schedule-queue.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from '../support/processes.js';

// `aicli-web schedules …`, the built CLI (run `npm run build` first) as a real process against the real API.
const id = testId('clisched');
let db: TestDatabase;
let t: TestApp;
let server: Server;
let env: Record<string, string> = {};

const cli = (...args: string[]) => runCli(args, env);

beforeAll(async () => {
  db = await createTestDatabase('clisched');
  t = buildTestApp(testConfig(id, db.url), db.sql);
  server = await listen(t.app, { ...t.resources.config.server, port: 0 });
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await createTestUser(db.sql, 'cli@example.com');
  const login = await t.app.request('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'cli@example.com', password: 'correct horse battery' }),
  });
  env = { AICLI_SERVER: base, AICLI_TOKEN: ((await login.json()) as { access_token: string }).access_token, HOME: '/nonexistent-aicli-home' };
  const ws = await cli('workspaces', 'create', 'nightly-repo');
  expect(ws.code, ws.output).toBe(0);
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await t?.close();
  await db?.drop();
});

describe('aicli-web schedules', () => {
  it('creates, lists, pauses, resumes, shows and deletes a schedule', async () => {
    const created = await cli('schedules', 'create', '-w', 'nightly-repo', '--cron', '30 2 * * *', '--timezone', 'Asia/Seoul', '--name', 'nightly', '--max-turns', '4', 'tidy', 'the', 'repo');
    expect(created.code, created.output).toBe(0);
    const scheduleId = created.output.match(/^([0-9a-f-]{36})$/m)?.[1] as string;
    expect(scheduleId).toBeDefined();
    expect(created.stderr).toMatch(/next run: \d{4}-\d\d-\d\d 17:30:00Z/);
    const [row] = await db.sql<{ task: Record<string, unknown>; timezone: string }[]>`select task, timezone from schedules where id = ${scheduleId}`;
    expect(row).toEqual({ task: { prompt: 'tidy the repo', max_turns: 4 }, timezone: 'Asia/Seoul' });

    const listed = await cli('schedules', 'list');
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(new RegExp(`${scheduleId}\\s+nightly\\s+30 2 \\* \\* \\*\\s+Asia/Seoul\\s+on\\s+\\S+ 17:30:00Z\\s+tidy the repo`));

    const paused = await cli('schedules', 'pause', scheduleId);
    expect(paused.output).toContain(`${scheduleId} paused`);
    expect(await t.resources.schedules.getJobScheduler(schedulerId(scheduleId))).toBeUndefined();
    expect((await cli('schedules', 'list', '--json')).output).toContain('"enabled": false');
    const resumed = await cli('schedules', 'resume', scheduleId);
    expect(resumed.output).toMatch(/resumed; next run .*17:30:00Z/);
    expect(await t.resources.schedules.getJobScheduler(schedulerId(scheduleId))).toMatchObject({ pattern: '30 2 * * *', tz: 'Asia/Seoul' });

    await db.sql`insert into schedule_runs (schedule_id, tick_at, status, reason) values (${scheduleId}, now(), 'skipped', 'over the cap (limits.roles.user.max_concurrent_tasks)')`;
    const shown = await cli('schedules', 'get', scheduleId);
    expect(shown.output).toContain('cron:      30 2 * * * (Asia/Seoul)');
    expect(shown.output).toMatch(/skipped\s+over the cap \(limits.roles.user.max_concurrent_tasks\)/);

    expect((await cli('schedules', 'delete', scheduleId)).output).toContain(`${scheduleId} deleted`);
    const gone = await cli('schedules', 'get', scheduleId);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('schedule not found');
  }, 180_000);

  it('shows the server refusal of a bad cron line in one line, exit 1', async () => {
    const bad = await cli('schedules', 'create', '-w', 'nightly-repo', '--cron', 'every morning', 'x');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('aicli-web: cron "every morning" must have 5 fields (minute hour day month weekday) or 6 (seconds first)');
    const missing = await cli('schedules', 'create', '-w', 'nightly-repo', 'x');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--cron/);
  }, 180_000);
});
