import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleTick, type TickDeps } from '../../src/api/schedules/tick.js';
import { syncSchedulers } from '../../src/api/schedules/sync.js';
import { nextRuns } from '../../src/api/schedules/cron.js';
import { schedulerId } from '../../src/queue/schedule-queue.js';
import { purgeRound } from '../../src/tasks/deletion/purger.js';
import { buildTestApp, createTestUser, type TestApp } from '../support/api-app.js';
import { testConfig, testId } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// Schedules over the real app, Postgres and Redis: validation, tenancy, the job scheduler following the row,
// and the tick handler itself (one task per tick under concurrency, the owner's caps and role at each run).
let db: TestDatabase;
let t: TestApp;
let deps: TickDeps;
const id = testId('schedapi');
const who = { alice: '', bob: '', aliceId: '' };
let wsAlice = '';
let wsBob = '';

async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await t.app.request(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const create = (token: string, body: Record<string, unknown>) => call('POST', '/api/v1/schedules', { token, body });
const scheduler = (scheduleId: string) => t.resources.schedules.getJobScheduler(schedulerId(scheduleId));

beforeAll(async () => {
  db = await createTestDatabase('schedapi');
  const config = testConfig(id, db.url, {
    limits: { roles: { user: { max_concurrent_tasks: 2 } } },
    schedules: { max_per_user: 6, min_interval: '1s', runs_kept: 3 },
  });
  t = buildTestApp(config, db.sql);
  who.aliceId = (await createTestUser(db.sql, 'alice@example.com')).id;
  await createTestUser(db.sql, 'bob@example.com');
  const login = async (email: string) => (await call('POST', '/api/v1/auth/login', { body: { email, password: 'correct horse battery' } })).json.access_token as string;
  who.alice = await login('alice@example.com');
  who.bob = await login('bob@example.com');
  wsAlice = (await call('POST', '/api/v1/workspaces', { token: who.alice, body: { name: 'A' } })).json.id;
  wsBob = (await call('POST', '/api/v1/workspaces', { token: who.bob, body: { name: 'B' } })).json.id;
  deps = { config, sql: db.sql, logger: t.resources.logger, queue: t.queue, schedules: t.resources.schedules, rbac: t.identity.rbac };
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('validation', () => {
  it('refuses a bad cron line or time zone with 400 {error, message} and stores nothing', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ cron: 'every day' }, /cron "every day" must have 5 fields/],
      [{ cron: '61 * * * *' }, /not a valid cron line .*61/],
      [{ cron: '0 0 30 2 *' }, /not a valid cron line|never fires/],
      [{ cron: '* * * * *', timezone: 'Mars/Olympus_Mons' }, /timezone "Mars\/Olympus_Mons" is not an IANA time zone/],
    ];
    for (const [fields, message] of cases) {
      const res = await create(who.alice, { workspace_id: wsAlice, task: { prompt: 'hi' }, ...fields });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(res.json).toEqual({ error: 'Invalid request', message: expect.stringMatching(message) });
    }
    const tooOften = buildTestApp(testConfig(`${id}b`, db.url, { schedules: { min_interval: '1m' } }), db.sql);
    try {
      const res = await tooOften.app.request('/api/v1/schedules', {
        method: 'POST',
        headers: { authorization: `Bearer ${who.alice}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workspace_id: wsAlice, cron: '*/10 * * * * *', task: { prompt: 'hi' } }),
      });
      expect(res.status).toBe(400);
      expect((await res.json()).message).toMatch(/fires every 10 s, more often than schedules.min_interval \(60 s\)/);
    } finally {
      await tooOften.close();
    }
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from schedules`;
    expect(row?.n).toBe(0);
  });

  it('validates the task as POST /tasks does: unknown fields 400, values above a cap 422', async () => {
    const unknown = await create(who.alice, { workspace_id: wsAlice, cron: '0 9 * * *', task: { prompt: 'hi', resume_from: wsAlice } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toMatch(/resume_from/);
    const empty = await create(who.alice, { workspace_id: wsAlice, cron: '0 9 * * *', task: { prompt: '' } });
    expect(empty.status).toBe(400);
    const overCap = await create(who.alice, { workspace_id: wsAlice, cron: '0 9 * * *', task: { prompt: 'hi', max_budget_usd: 500 } });
    expect(overCap.status).toBe(422);
    expect(overCap.json.message).toMatch(/max_budget_usd 500 is above the cap .*limits.roles.user.max_budget_usd/);
  });
});

describe('CRUD and tenancy', () => {
  it('shows the next fire times in the time zone, and another user gets 404 for it', async () => {
    const res = await create(who.alice, { workspace_id: wsAlice, name: 'weekday mornings', cron: '0 9 * * 1-5', timezone: 'Asia/Seoul', task: { prompt: 'report', max_turns: 3 } });
    expect(res.status).toBe(201);
    const s = res.json;
    expect(s).toMatchObject({ workspace_id: wsAlice, name: 'weekday mornings', cron: '0 9 * * 1-5', timezone: 'Asia/Seoul', enabled: true, task: { prompt: 'report', max_turns: 3 } });
    expect(s.next_runs).toHaveLength(5);
    for (const run of s.next_runs as string[]) {
      const d = new Date(run);
      // 09:00 in Seoul is 00:00 UTC, Monday to Friday there.
      expect(d.getUTCHours()).toBe(0);
      expect([1, 2, 3, 4, 5]).toContain(new Date(d.getTime() + 9 * 3600_000).getUTCDay());
    }
    expect((await scheduler(s.id))?.pattern).toBe('0 9 * * 1-5');

    for (const [method, body] of [['GET'], ['PATCH', { enabled: false }], ['DELETE']] as const) {
      const other = await call(method, `/api/v1/schedules/${s.id}`, { token: who.bob, body });
      expect(other.status, method).toBe(404);
      expect(other.json).toEqual({ error: 'Not found', message: 'schedule not found' });
    }
    expect((await call('GET', '/api/v1/schedules', { token: who.bob })).json.items).toEqual([]);
    const foreignWs = await create(who.alice, { workspace_id: wsBob, cron: '0 9 * * *', task: { prompt: 'x' } });
    expect(foreignWs.status).toBe(404);
    expect((await call('GET', `/api/v1/schedules/${s.id}`, { token: who.alice })).json).toMatchObject({ id: s.id, runs: [] });
    expect((await call('GET', '/api/v1/schedules', { token: who.alice })).json.items.map((x: { id: string }) => x.id)).toContain(s.id);
    // Still enabled after bob's refused PATCH.
    expect((await scheduler(s.id))?.pattern).toBe('0 9 * * 1-5');
  });

  it('pause removes the job scheduler, resume makes it again, a cron change replaces it, delete removes it', async () => {
    const s = (await create(who.alice, { workspace_id: wsAlice, cron: '*/5 * * * *', task: { prompt: 'p' } })).json;
    expect(await scheduler(s.id)).toMatchObject({ pattern: '*/5 * * * *', tz: 'UTC' });
    const paused = await call('PATCH', `/api/v1/schedules/${s.id}`, { token: who.alice, body: { enabled: false } });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ enabled: false, next_runs: [] });
    expect(await scheduler(s.id)).toBeUndefined();
    const resumed = await call('PATCH', `/api/v1/schedules/${s.id}`, { token: who.alice, body: { enabled: true, cron: '0 */2 * * *', timezone: 'Europe/Berlin' } });
    expect(resumed.json).toMatchObject({ enabled: true, cron: '0 */2 * * *', timezone: 'Europe/Berlin' });
    expect(resumed.json.next_runs).toEqual(nextRuns('0 */2 * * *', 'Europe/Berlin', 5, new Date(Date.parse(resumed.json.next_runs[0]) - 1)).map((d) => d.toISOString()));
    expect(await scheduler(s.id)).toMatchObject({ pattern: '0 */2 * * *', tz: 'Europe/Berlin' });
    const badPatch = await call('PATCH', `/api/v1/schedules/${s.id}`, { token: who.alice, body: { timezone: 'Nowhere/Else' } });
    expect(badPatch.status).toBe(400);
    expect(await scheduler(s.id)).toMatchObject({ tz: 'Europe/Berlin' });
    expect((await call('DELETE', `/api/v1/schedules/${s.id}`, { token: who.alice })).status).toBe(204);
    expect(await scheduler(s.id)).toBeUndefined();
    expect((await call('GET', `/api/v1/schedules/${s.id}`, { token: who.alice })).status).toBe(404);
  });

  it('refuses a schedule past schedules.max_per_user with 422', async () => {
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from schedules where owner_id = ${who.aliceId}`;
    for (let i = row?.n ?? 0; i < 6; i++) expect((await create(who.alice, { workspace_id: wsAlice, cron: '0 3 * * *', enabled: false, task: { prompt: `f${i}` } })).status).toBe(201);
    const over = await create(who.alice, { workspace_id: wsAlice, cron: '0 3 * * *', task: { prompt: 'one too many' } });
    expect(over.status).toBe(422);
    expect(over.json.message).toMatch(/schedules.max_per_user/);
    await db.sql`delete from schedules where owner_id = ${who.aliceId}`;
  });
});

describe('ticks', () => {
  const tickOf = async (token: string, ws: string, task: Record<string, unknown> = { prompt: 'tick' }) => {
    const s = (await create(token, { workspace_id: ws, cron: '* * * * * *', task })).json;
    // Not left to BullMQ here: this file drives the handler by hand.
    await t.resources.schedules.removeJobScheduler(schedulerId(s.id));
    return s as { id: string };
  };
  const tasksOf = async (ws: string) => (await db.sql<{ n: number }[]>`select count(*)::int as n from tasks where workspace_id = ${ws}`)[0]?.n;

  it('makes one task per tick however many handle it at once, and queues it', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: who.bob, body: { name: 'once' } })).json.id;
    const s = await tickOf(who.bob, ws);
    const tick = Math.floor(Date.now() / 1000) * 1000;
    const results = await Promise.all(Array.from({ length: 6 }, () => handleTick(deps, { scheduleId: s.id, version: 1 }, tick)));
    expect(results.filter((r) => r.kind === 'recorded')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'duplicate')).toHaveLength(5);
    expect(await tasksOf(ws)).toBe(1);
    const [run] = await db.sql<{ task_id: string; status: string }[]>`select task_id, status from schedule_runs where schedule_id = ${s.id}`;
    expect(run?.status).toBe('created');
    expect(await t.queue.getJob(run!.task_id)).toBeDefined();
    // The next tick is a new run.
    expect((await handleTick(deps, { scheduleId: s.id, version: 1 }, tick + 1000)).kind).toBe('recorded');
    expect(await tasksOf(ws)).toBe(2);
    // Over the owner's cap of queued tasks (limits.roles.user.max_concurrent_tasks = 2): recorded as skipped, no task.
    const third = await handleTick(deps, { scheduleId: s.id, version: 1 }, tick + 2000);
    expect(third).toEqual({ kind: 'recorded', outcome: { status: 'skipped', reason: expect.stringMatching(/the cap for role user is 2 \(limits.roles.user.max_concurrent_tasks\)/) } });
    expect(await tasksOf(ws)).toBe(2);
    const detail = (await call('GET', `/api/v1/schedules/${s.id}`, { token: who.bob })).json;
    expect(detail.runs.map((r: { status: string }) => r.status)).toEqual(['skipped', 'created', 'created']);
    expect(detail.runs[0].reason).toMatch(/max_concurrent_tasks/);
    await db.sql`update tasks set status = 'cancelled', finished_at = now() where workspace_id = ${ws}`;
  });

  it("a scheduled task pushes as a submission would: by the workspace's push.default, or when its task asks", async () => {
    await createTestUser(db.sql, 'dora@example.com');
    const dora = (await call('POST', '/api/v1/auth/login', { body: { email: 'dora@example.com', password: 'correct horse battery' } })).json.access_token as string;
    const source = { type: 'git', url: 'https://github.com/example/repo.git' };
    const pushing = (await call('POST', '/api/v1/workspaces', { token: dora, body: { name: 'pushing', source, push: { remote: 'source', default: true } } })).json.id;
    const plain = (await call('POST', '/api/v1/workspaces', { token: dora, body: { name: 'plain', source } })).json.id;
    const tick = Math.floor(Date.now() / 1000) * 1000;
    const pushOf = async (scheduleId: string) => {
      const [run] = await db.sql<{ task_id: string }[]>`select task_id from schedule_runs where schedule_id = ${scheduleId}`;
      const [task] = await db.sql<{ options: { push?: boolean } }[]>`select options from tasks where id = ${run!.task_id}`;
      return task!.options.push;
    };
    const byDefault = await tickOf(dora, pushing);
    const optedOut = await tickOf(dora, pushing, { prompt: 'tick', push: false });
    for (const sch of [byDefault, optedOut]) expect((await handleTick(deps, { scheduleId: sch.id, version: 1 }, tick)).kind).toBe('recorded');
    expect(await pushOf(byDefault.id)).toBe(true);
    expect(await pushOf(optedOut.id)).not.toBe(true);
    await db.sql`update tasks set status = 'cancelled', finished_at = now() where workspace_id = ${pushing}`;
    const asked = await tickOf(dora, plain, { prompt: 'tick', push: true });
    const unasked = await tickOf(dora, plain);
    for (const sch of [asked, unasked]) expect((await handleTick(deps, { scheduleId: sch.id, version: 1 }, tick)).kind).toBe('recorded');
    expect(await pushOf(asked.id)).toBe(true);
    expect(await pushOf(unasked.id)).not.toBe(true);
    await db.sql`update tasks set status = 'cancelled', finished_at = now() where workspace_id = ${plain}`;
  });

  it("applies the owner's role and caps as they are at the tick", async () => {
    const carolId = (await createTestUser(db.sql, 'carol@example.com', 'correct horse battery', 'admin')).id;
    const carol = (await call('POST', '/api/v1/auth/login', { body: { email: 'carol@example.com', password: 'correct horse battery' } })).json.access_token as string;
    const ws = (await call('POST', '/api/v1/workspaces', { token: carol, body: { name: 'role' } })).json.id;
    // Within the admin's caps when it is made (limits.roles.admin.max_timeout_seconds is 14400).
    const s = await tickOf(carol, ws, { prompt: 'tick', timeout_seconds: 5000 });
    const tick = Math.floor(Date.now() / 1000) * 1000;
    const run = (n: number) => handleTick(deps, { scheduleId: s.id, version: 1 }, tick + n * 1000);
    expect((await run(0)).kind).toBe('recorded');
    expect(await tasksOf(ws)).toBe(1);
    await db.sql`update users set role = 'user' where id = ${carolId}`;
    expect(await run(1)).toEqual({
      kind: 'recorded',
      outcome: { status: 'skipped', reason: 'timeout_seconds 5000 is above the cap of 3600 for role user (limits.roles.user.max_timeout_seconds)' },
    });
    await db.sql`update users set role = 'viewer' where id = ${carolId}`;
    expect(await run(2)).toEqual({ kind: 'recorded', outcome: { status: 'skipped', reason: 'role viewer does not grant task:create' } });
    await db.sql`update users set role = 'admin', disabled = true where id = ${carolId}`;
    expect(await run(3)).toEqual({ kind: 'recorded', outcome: { status: 'skipped', reason: 'the owner account is disabled' } });
    await db.sql`update users set disabled = false where id = ${carolId}`;
    expect((await run(4)).kind).toBe('recorded');
    expect(await tasksOf(ws)).toBe(2);
    const runs = await db.sql<{ status: string }[]>`select status from schedule_runs where schedule_id = ${s.id} order by tick_at`;
    expect(runs.map((r) => r.status)).toEqual(['created', 'skipped', 'skipped', 'skipped', 'created']);
  });

  it('makes nothing for a paused or deleted schedule, and removes its scheduler', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: who.alice, body: { name: 'paused' } })).json.id;
    const s = await tickOf(who.alice, ws);
    await db.sql`update schedules set enabled = false where id = ${s.id}`;
    const tick = Math.floor(Date.now() / 1000) * 1000;
    expect(await handleTick(deps, { scheduleId: s.id, version: 1 }, tick)).toEqual({ kind: 'ignored', why: 'paused' });
    await db.sql`delete from schedules where id = ${s.id}`;
    expect(await handleTick(deps, { scheduleId: s.id, version: 1 }, tick)).toEqual({ kind: 'ignored', why: 'schedule gone' });
    expect(await tasksOf(ws)).toBe(0);
  });

  it('the sync remakes a lost scheduler from Postgres and removes one without an enabled row', async () => {
    const s = (await create(who.bob, { workspace_id: wsBob, cron: '0 4 * * *', task: { prompt: 'nightly' } })).json;
    await t.resources.schedules.removeJobScheduler(schedulerId(s.id));
    await db.sql`update schedules set enabled = false where id = ${s.id}`;
    const orphan = '00000000-0000-4000-8000-00000000beef';
    await t.resources.schedules.upsertJobScheduler(schedulerId(orphan) as 'schedule-tick', { pattern: '0 5 * * *' }, { name: 'schedule-tick', data: { scheduleId: orphan, version: 1 } });
    await db.sql`update schedules set enabled = true where id = ${s.id}`;
    const result = await syncSchedulers(db.sql, t.resources.schedules);
    expect(result.made).toBeGreaterThanOrEqual(1);
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect(await scheduler(s.id)).toMatchObject({ pattern: '0 4 * * *' });
    expect(await scheduler(orphan)).toBeUndefined();
    // Nothing left to do: a second round changes nothing.
    expect(await syncSchedulers(db.sql, t.resources.schedules)).toEqual({ made: 0, removed: 0 });
  });

  it('keeps the latest schedules.runs_kept runs, but none of the last day', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: who.bob, body: { name: 'pruned' } })).json.id;
    const s = await tickOf(who.bob, ws);
    const old = Date.now() - 3 * 86_400_000;
    for (let i = 0; i < 5; i++) await db.sql`insert into schedule_runs (schedule_id, tick_at, status, reason) values (${s.id}, ${new Date(old + i * 1000)}, 'skipped', 'old')`;
    const tick = Math.floor(Date.now() / 1000) * 1000;
    expect((await handleTick(deps, { scheduleId: s.id, version: 1 }, tick)).kind).toBe('recorded');
    const left = await db.sql<{ tick_at: Date }[]>`select tick_at from schedule_runs where schedule_id = ${s.id} order by tick_at desc`;
    expect(left.map((r) => r.tick_at.getTime())).toEqual([tick, old + 4000, old + 3000]);
    // Young runs are all kept, past the count: each is what makes a late duplicate of its tick a no-op.
    for (let i = 1; i <= 3; i++) expect((await handleTick(deps, { scheduleId: s.id, version: 1 }, tick + i * 1000)).kind).toBe('recorded');
    expect((await db.sql`select 1 from schedule_runs where schedule_id = ${s.id} and tick_at > now() - interval '1 day'`).length).toBe(4);
    await db.sql`update tasks set status = 'cancelled', finished_at = now() where workspace_id = ${ws}`;
  });

  it('deleting a user removes their schedules: hidden at once, no tick makes a task, purged later', async () => {
    await createTestUser(db.sql, 'dave@example.com');
    const dave = (await call('POST', '/api/v1/auth/login', { body: { email: 'dave@example.com', password: 'correct horse battery' } })).json.access_token as string;
    const ws = (await call('POST', '/api/v1/workspaces', { token: dave, body: { name: 'dave' } })).json.id;
    const s = (await create(dave, { workspace_id: ws, cron: '0 7 * * *', task: { prompt: 'x' } })).json;
    await createTestUser(db.sql, 'root@example.com', 'correct horse battery', 'admin');
    const root = (await call('POST', '/api/v1/auth/login', { body: { email: 'root@example.com', password: 'correct horse battery' } })).json.access_token as string;
    const [daveRow] = await db.sql<{ id: string }[]>`select id from users where email = 'dave@example.com'`;
    expect((await call('DELETE', `/api/v1/admin/users/${daveRow!.id}`, { token: root })).status).toBe(204);
    expect(await handleTick(deps, { scheduleId: s.id, version: 1 }, Date.now())).toEqual({ kind: 'ignored', why: 'schedule gone' });
    expect(await scheduler(s.id)).toBeUndefined();
    expect(await tasksOf(ws)).toBe(0);
    const round = await purgeRound({ sql: db.sql, batchSize: 100, cancel: async () => {}, logger: t.resources.logger });
    expect(round).toMatchObject({ skipped: false, users: 1 });
    expect(await db.sql`select 1 from schedules where id = ${s.id}`).toHaveLength(0);
  });

  it('deleting a workspace removes its schedules (the purger), and its ticks make nothing before that', async () => {
    const ws = (await call('POST', '/api/v1/workspaces', { token: who.bob, body: { name: 'doomed' } })).json.id;
    const s = (await create(who.bob, { workspace_id: ws, cron: '0 6 * * *', task: { prompt: 'x' } })).json;
    expect((await call('DELETE', `/api/v1/workspaces/${ws}`, { token: who.bob })).status).toBe(204);
    expect((await call('GET', `/api/v1/schedules/${s.id}`, { token: who.bob })).status).toBe(404);
    expect(await handleTick(deps, { scheduleId: s.id, version: 1 }, Date.now())).toEqual({ kind: 'ignored', why: 'schedule gone' });
    expect(await scheduler(s.id)).toBeUndefined();
    const round = await purgeRound({ sql: db.sql, batchSize: 100, cancel: async () => {}, logger: t.resources.logger });
    expect(round).toMatchObject({ skipped: false, schedules: 1, workspaces: 1 });
    expect(await db.sql`select 1 from schedules where id = ${s.id}`).toHaveLength(0);
  });
});
