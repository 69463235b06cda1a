import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/db/audit.js';
import { submitTask } from '../../src/db/task-submit.js';
import { listTaskEvents } from '../../src/db/task-events.js';
import { findTask, listQueuedPage, listTasks } from '../../src/db/tasks.js';
import { claimWithinLimits } from '../../src/tasks/lifecycle/claim.js';
import { deleteExpiredEvents, deleteExpiredTasks } from '../../src/tasks/retention/statements.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// The plans of the request-path and worker-path queries on a skewed database: one heavy user with a long
// history and a backlog, many light ones. Each query's text comes from the real function, run on a client
// that records what it sends (inside a transaction rolled back when the function writes); the test then
// asks Postgres for that statement's plan with the same parameters and checks that it reads an index in
// the query's order: no Seq Scan on the big tables, and no more rows read than a small multiple of the page.
// The workspace delete's check is asserted in deletion-purge.test.ts.
let db: TestDatabase;
let recorder: postgres.Sql;
let recorded: Array<{ query: string; parameters: unknown[] }> = [];
const ids = { heavy: '', light: '', heavyWs: '', minorWs: '', lightWs: '', queued: '', manyEvents: '', actor: '' };

const BIG_TABLES = new Set(['tasks', 'task_events', 'audit_log']);

beforeAll(async () => {
  db = await createTestDatabase('query_plans');
  recorder = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query, parameters) => void recorded.push({ query, parameters: parameters as unknown[] }) });
  const sql = db.sql;
  const [heavy] = await sql<{ id: string }[]>`insert into users (email, role) values ('heavy@example.com', 'admin') returning id`;
  ids.heavy = heavy!.id;
  await sql`insert into users (email, role) select 'light' || g || '@example.com', 'user' from generate_series(1, 200) g`;
  const [light] = await sql<{ id: string }[]>`select id from users where email = 'light1@example.com'`;
  ids.light = light!.id;
  await sql`insert into workspaces (owner_id, name, source) select id, 'ws', '{"type":"empty"}' from users`;
  await sql`insert into workspaces (owner_id, name, source) select ${ids.heavy}, 'ws' || g, '{"type":"empty"}' from generate_series(1, 4) g`;
  const [hw] = await sql<{ id: string }[]>`select id from workspaces where owner_id = ${ids.heavy} and name = 'ws'`;
  ids.heavyWs = hw!.id;
  const [mw] = await sql<{ id: string }[]>`select id from workspaces where owner_id = ${ids.heavy} and name = 'ws1'`;
  ids.minorWs = mw!.id;
  const [lw] = await sql<{ id: string }[]>`select id from workspaces where owner_id = ${ids.light}`;
  ids.lightWs = lw!.id;
  // The heavy user: 30,000 finished tasks over five workspaces (most in one) and no running task; 3,000 queued.
  await sql`
    insert into tasks (owner_id, workspace_id, status, prompt, created_at, started_at, finished_at)
    select ${ids.heavy}, case when g % 5 = 0 then w.other else ${ids.heavyWs}::uuid end,
      (array['succeeded','succeeded','succeeded','failed','cancelled','timed_out'])[1 + g % 6],
      'p', now() - g * interval '5 minutes', now() - g * interval '5 minutes', now() - g * interval '5 minutes' + interval '1 minute'
    from generate_series(1, 30000) g
    cross join lateral (select id as other from workspaces where owner_id = ${ids.heavy} and name <> 'ws' order by name offset g % 4 limit 1) w`;
  await sql`
    insert into tasks (owner_id, workspace_id, status, prompt, created_at)
    select ${ids.heavy}, ${ids.heavyWs}, 'queued', 'p', now() - g * interval '1 second' from generate_series(1, 3000) g`;
  // Light users: 50 finished tasks each, and a few running ones across them.
  await sql`
    insert into tasks (owner_id, workspace_id, status, prompt, created_at, started_at, finished_at)
    select w.owner_id, w.id, 'succeeded', 'p', now() - g * interval '1 hour', now() - g * interval '1 hour', now() - g * interval '1 hour'
    from workspaces w join users u on u.id = w.owner_id and u.email like 'light%' cross join generate_series(1, 50) g`;
  await sql`update tasks set status = 'running', finished_at = null where id in (
    select id from tasks where owner_id <> ${ids.heavy} order by created_at desc limit 40)`;
  const [q] = await sql<{ id: string }[]>`select id from tasks where owner_id = ${ids.heavy} and status = 'queued' limit 1`;
  ids.queued = q!.id;
  // Ten events for each finished task of the heavy user, 2,000 for one.
  await sql`
    insert into task_events (task_id, seq, attempt, type, payload)
    select t.id, s, 1, 'claude', '{}' from tasks t cross join generate_series(1, 10) s where t.owner_id = ${ids.heavy} and t.status <> 'queued'`;
  const [many] = await sql<{ id: string }[]>`select id from tasks where owner_id = ${ids.heavy} and status = 'succeeded' limit 1`;
  ids.manyEvents = many!.id;
  await sql`insert into task_events (task_id, seq, attempt, type, payload) select ${ids.manyEvents}, s, 1, 'claude', '{}' from generate_series(11, 2000) s`;
  // An audit log of 20,000 rows, nearly all logins; a rare action and a rare actor.
  await sql`
    insert into audit_log (actor_id, actor_kind, action)
    select case when g % 1000 = 0 then ${ids.light}::uuid else ${ids.heavy}::uuid end, 'user', case when g % 2000 = 0 then 'user_role_changed' else 'login' end
    from generate_series(1, 20000) g`;
  // Earlier pruning rounds emptied the heavy user's tasks finished over 40 days ago (their events stay here:
  // only the mark matters to the plan), as a long-running event retention leaves them.
  await sql`update tasks set events_pruned = true where owner_id = ${ids.heavy} and finished_at < now() - interval '40 days'`;
  for (const t of ['users', 'workspaces', 'tasks', 'task_events', 'audit_log', 'user_active_tasks']) await sql.unsafe(`analyze ${t}`);
}, 120_000);

afterAll(async () => {
  await recorder?.end({ timeout: 5 });
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

const walk = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(walk)];

/** Rows a scan node read: what it passed on plus what its filters threw away, over all its loops. */
const rowsRead = (n: PlanNode) => (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1) + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0);

/** What an unbounded query does: a Seq Scan of a big table, or more rows read from the big tables than `budget`. */
function violations(plan: PlanNode, budget: number): string[] {
  const bad: string[] = [];
  let read = 0;
  for (const n of walk(plan)) {
    if (!BIG_TABLES.has(n['Relation Name'] ?? '')) continue;
    if (n['Node Type'] === 'Seq Scan') bad.push(`Seq Scan on ${n['Relation Name']}`);
    read += rowsRead(n);
  }
  if (read > budget) bad.push(`read ${read} rows of the big tables (budget ${budget})`);
  return bad;
}

const indexesOf = (plan: PlanNode) => walk(plan).flatMap((n) => (n['Index Name'] ? [n['Index Name']] : []));

/**
 * The executed plan of a recorded statement with the parameters it was sent with (EXPLAIN ANALYZE in a
 * transaction or savepoint that is rolled back, so a delete deletes nothing): its row counts show what it read.
 */
async function planOf(sql: postgres.Sql | postgres.TransactionSql, q: { query: string; parameters: unknown[]; customPlan?: boolean }): Promise<PlanNode> {
  let plan: PlanNode | undefined;
  const explain = async (tx: postgres.TransactionSql) => {
    // The driver prepares every statement, and Postgres moves a prepared statement to a generic plan (one
    // chosen without the parameters' values) after a few runs: judge that plan, which a skewed owner breaks.
    if (!q.customPlan) await tx`set local plan_cache_mode = force_generic_plan`;
    const [row] = (await tx.unsafe(`explain (analyze, format json) ${q.query}`, q.parameters as never[])) as unknown as Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>;
    plan = row!['QUERY PLAN'][0]!.Plan;
    throw new RolledBack();
  };
  await ('savepoint' in sql ? sql.savepoint(explain) : sql.begin(explain)).catch(rolledBack);
  return plan as PlanNode;
}

function rolledBack(err: unknown): void {
  if (!(err instanceof RolledBack)) throw err;
}

/**
 * Runs `run` on the recording client (in a transaction that is rolled back, unless the function opens its
 * own and writes nothing in the case given) and returns the one statement that matches.
 */
async function record(match: RegExp, run: (sql: postgres.Sql) => Promise<unknown>, ownTransaction = false): Promise<{ query: string; parameters: unknown[] }> {
  recorded = [];
  if (ownTransaction) await run(recorder);
  else await recorder
    .begin(async (tx) => {
      await run(tx as unknown as postgres.Sql);
      throw new RolledBack();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RolledBack)) throw err;
    });
  const hits = recorded.filter((r) => match.test(r.query));
  expect(hits.length, `one statement matching ${match} (sent: ${recorded.map((r) => r.query.slice(0, 60)).join(' | ')})`).toBe(1);
  return hits[0]!;
}
class RolledBack extends Error {}

const limitsFor = () => ({ perUser: 10, perWorkspace: 10 });
const cursorOf = async (ownerId: string, depth: number) => {
  const [row] = await db.sql<{ created_at: Date; id: string }[]>`
    select created_at, id from tasks where owner_id = ${ownerId} order by created_at desc, id desc offset ${depth} limit 1`;
  return { createdAt: row!.created_at.toISOString(), id: row!.id };
};

const queuedPosition = async (depth: number) => {
  const [row] = await db.sql<{ created_at: string; id: string }[]>`
    select created_at::text, id from tasks where status = 'queued' order by created_at, id offset ${depth} limit 1`;
  return { createdAt: row!.created_at, id: row!.id };
};

/** `index`: the index the plan should read (for the failure message); `budget`: the most rows it may read of the big tables. */
/** `customPlan`: the statement runs with plan_cache_mode force_custom_plan in production (the pruner sets it). */
type Case = { name: string; match: RegExp; run: (sql: postgres.Sql) => Promise<unknown>; index: string | RegExp; budget: number; ownTransaction?: boolean; customPlan?: boolean };

const cases = (): Case[] => {
  const page = (name: string, q: Omit<Parameters<typeof listTasks>[2], 'limit'>, index: string, deep = false): Case => ({
    name: `task list: ${name}${deep ? ', deep cursor' : ''}`,
    match: /from tasks\s+where (owner_id|workspace_id)/,
    run: async (sql) => listTasks(sql as never, ids.heavy, { ...q, cursor: deep ? await cursorOf(ids.heavy, 20_000) : undefined, limit: 21 }),
    index,
    // A page of 21 rows: a few pages' worth at most, whatever the owner's 33,000 rows of history and backlog.
    budget: 200,
  });
  const pages = (name: string, q: Omit<Parameters<typeof listTasks>[2], 'limit'>, index: string) => [page(name, q, index), page(name, q, index, true)];
  return [
    ...pages('owner', {}, 'idx_tasks_owner_created'),
    ...pages('owner + status', { status: 'failed' }, 'idx_tasks_owner_status_created'),
    ...pages('owner + a status it has none of', { status: 'running' }, 'idx_tasks_owner_status_created'),
    ...pages('owner + workspace', { workspaceId: ids.heavyWs }, 'idx_tasks_workspace_created'),
    ...pages('owner + a small workspace', { workspaceId: ids.minorWs }, 'idx_tasks_workspace_created'),
    ...pages('owner + workspace + status', { workspaceId: ids.heavyWs, status: 'timed_out' }, 'idx_tasks_workspace_status_created'),
    {
      name: 'claim: running count per owner and per workspace',
      match: /count\(\*\) from tasks where owner_id/,
      run: (sql) => claimWithinLimits(sql as never, ids.queued, 'plan-worker', limitsFor),
      index: /^idx_tasks_(owner|workspace)_status_created$/,
      budget: 10,
    },
    { name: 'task by id', match: /from tasks where id = \$1 and owner_id/, run: (sql) => findTask(sql as never, ids.heavy, ids.manyEvents), index: 'tasks_pkey', budget: 1 },
    {
      // Ownership, the cap (the counter row, migration 0007) and the insert in one statement: no count of
      // the owner's 3,000 queued tasks or their history. The one row it touches of a big table is its insert.
      name: 'submit: ownership, cap and insert',
      match: /with ws as/,
      run: (sql) =>
        submitTask(sql as never, { ownerId: ids.heavy, workspaceId: ids.heavyWs, prompt: 'p', options: {}, metadata: null, webhookUrl: null, maxActive: 100_000 }),
      index: 'user_active_tasks_pkey',
      budget: 1,
    },
    {
      name: 'event replay page',
      match: /from task_events\s+where task_id/,
      run: (sql) => listTaskEvents(sql as never, ids.manyEvents, 1000, 500),
      index: 'task_events_pkey',
      // The task's events after seq 1000 (1,000 of them; the page takes 500), of a table of 300,000.
      budget: 1000,
    },
    { name: 'reconciler sweep: first page', match: /where status = 'queued' and created_at </, run: (sql) => listQueuedPage(sql as never, { olderThanMs: 5000, limit: 200 }), index: 'idx_tasks_queued_sweep', budget: 200 },
    {
      // A page from the middle of the 3,000-task backlog: read from its bound, not from the oldest row.
      name: 'reconciler sweep: a page after a position',
      match: /where status = 'queued' and created_at </,
      run: async (sql) => listQueuedPage(sql as never, { olderThanMs: 5000, limit: 200, after: await queuedPosition(1500) }),
      index: 'idx_tasks_queued_sweep',
      budget: 400,
    },
    { name: 'audit list', match: /from audit_log/, run: (sql) => listAudit(sql as never, { limit: 50 }), index: 'audit_log_pkey', budget: 50 },
    { name: 'audit list: rare action', match: /from audit_log/, run: (sql) => listAudit(sql as never, { limit: 50, action: 'user_role_changed' }), index: 'idx_audit_log_action_id', budget: 50 },
    {
      // Task retention of 100 days over a history of about 104: the old end of the finished_at index.
      name: 'retention: expired tasks',
      match: /delete from tasks where id in/,
      run: (sql) => deleteExpiredTasks(sql as never, { days: 100, byRole: {} }, 100),
      index: 'idx_tasks_finished_at',
      budget: 400,
      customPlan: true,
    },
    {
      // Event retention of 1 day, with the 18,000 oldest tasks already emptied: the candidates are the next
      // unmarked ones, found without walking the emptied history again (the step runs for real, last).
      name: 'retention: event candidates past the emptied history',
      match: /and not t\.events_pruned/,
      run: (sql) => deleteExpiredEvents(sql, { days: 1, byRole: {} }, 100),
      index: 'idx_tasks_events_unpruned',
      budget: 400,
      ownTransaction: true,
      customPlan: true,
    },
    { name: 'audit list: rare actor, older page', match: /from audit_log/, run: (sql) => listAudit(sql as never, { limit: 50, actorId: ids.light, beforeId: '15000' }), index: 'idx_audit_log_actor_id', budget: 50 },
  ];
};

/** What is wrong with a case's plan, or null. */
function judge(c: Case, plan: PlanNode): string | null {
  const bad = violations(plan, c.budget);
  if (bad.length === 0) return null;
  return `${c.name}: ${bad.join(', ')} (indexes used: ${indexesOf(plan).join(', ') || 'none'}; expected ${c.index})`;
}

describe('query plans on a skewed backlog and history', () => {
  it('every listed query reads about what it returns: no Seq Scan of a big table, no walk or sort of a history', async () => {
    const report: string[] = [];
    for (const c of cases()) {
      const problem = judge(c, await planOf(db.sql, { ...(await record(c.match, c.run, c.ownTransaction)), customPlan: c.customPlan }));
      if (problem) report.push(problem);
    }
    expect(report).toEqual([]);
  });

  it('fails when an index a plan needs is gone (the check can fail)', async () => {
    const c = cases().find((x) => x.name === 'task list: owner + a small workspace') as Case;
    const q = await record(c.match, c.run);
    expect(judge(c, await planOf(db.sql, q))).toBeNull();
    await db.sql
      .begin(async (tx) => {
        await tx`drop index idx_tasks_workspace_created`;
        // Without it the page walks the owner's history for the workspace's rows, or sorts the workspace's.
        expect(judge(c, await planOf(tx, q))).toMatch(/owner \+ a small workspace: .*read \d+ rows of the big tables/);
        throw new RolledBack();
      })
      .catch((err: unknown) => {
        if (!(err instanceof RolledBack)) throw err;
      });
  });
});
