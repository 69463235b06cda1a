// Seeds (or reuses) the scale bench's database by bulk SQL: history, events and the heavy user's backlog.
import postgres from 'postgres';
import { hashPassword } from '../../src/auth/password.js';
import { migrationsDir } from '../../src/cli/context.js';
import { runMigrations } from '../../src/db/migrate.js';
import { PG_ADMIN_URL, pgUrl } from '../../test/support/services.js';
import { seededEvents, type SeedShape } from './shape.js';

export const HEAVY_EMAIL = 'heavy@bench.example';
export const PRUNE_EMAIL = 'retired@bench.example';
export const BENCH_PASSWORD = 'a long enough bench password';
/** Role of the retired user: the pruner bench's retention names it alone, so only its slice is eligible. */
export const PRUNE_ROLE = 'viewer';

export interface SeededDatabase {
  url: string;
  sql: postgres.Sql;
  heavyId: string;
  /** How the database was got: 'seeded' (dropped and made again) or 'reused'. */
  how: 'seeded' | 'reused';
  seedMs: number;
  close(): Promise<void>;
}

const log = (msg: string) => console.log(`[seed] ${msg}`);

async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await run();
  log(`${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return value;
}

/**
 * Opens the bench database, reusing it when a finished seed of the same shape is found (its bench leftovers
 * removed and the pruner's slice restored), else dropping and seeding it again.
 */
export async function openSeededDatabase(name: string, shape: SeedShape): Promise<SeededDatabase> {
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  const url = pgUrl(name);
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (exists) {
      const sql = postgres(url, { max: 4, onnotice: () => {} });
      const reusable = await sameShape(sql, shape);
      if (reusable) {
        const started = performance.now();
        // A migration newer than the seed applies to the seeded rows, as an upgrade would.
        const { applied } = await runMigrations(sql, { dir: migrationsDir() });
        if (applied.length > 0) log(`reuse: applied ${applied.join(', ')}`);
        const heavyId = await prepareReuse(sql, shape);
        return { url, sql, heavyId, how: 'reused', seedMs: performance.now() - started, close: () => sql.end({ timeout: 5 }) };
      }
      await sql.end({ timeout: 5 });
      log(`database ${name} holds another shape or an unfinished seed: dropping it`);
      await admin.unsafe(`drop database ${name} with (force)`);
    }
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  const started = performance.now();
  await runMigrations(sql, { dir: migrationsDir() });
  // One session for the whole seed: its temp tables and settings live in it.
  const conn = await sql.reserve();
  const heavyId = await seed(conn, shape).finally(() => conn.release());
  const seedMs = performance.now() - started;
  await sql`update bench_scale_seed set seed_ms = ${Math.round(seedMs)}, finished = true`;
  return { url, sql, heavyId, how: 'seeded', seedMs, close: () => sql.end({ timeout: 5 }) };
}

async function sameShape(sql: postgres.Sql, shape: SeedShape): Promise<boolean> {
  const [table] = await sql`select to_regclass('bench_scale_seed') as t`;
  if (!table?.t) return false;
  const [row] = await sql<{ shape: SeedShape; finished: boolean }[]>`select shape, finished from bench_scale_seed`;
  if (row?.finished !== true) return false;
  // Key by key: jsonb keeps its own key order, so the stored text never equals JSON.stringify(shape).
  const stored = row.shape as unknown as Record<string, unknown>;
  const wanted = shape as unknown as Record<string, unknown>;
  return Object.keys(stored).length === Object.keys(wanted).length && Object.keys(wanted).every((k) => stored[k] === wanted[k]);
}

/** Removes what an earlier run added (fresh users, the heavy user's submissions) and restores the pruned slice. */
async function prepareReuse(sql: postgres.Sql, shape: SeedShape): Promise<string> {
  const [seedRow] = await sql<{ seeded_at: Date }[]>`select seeded_at from bench_scale_seed`;
  const [heavy] = await sql<{ id: string }[]>`select id from users where email = ${HEAVY_EMAIL}`;
  if (!seedRow || !heavy) throw new Error('bench_scale_seed is finished but the heavy user is missing: drop the database');
  await timed('reuse: removing the previous runs\' users and submissions', async () => {
    await sql`delete from users where email like 'fresh-%@bench.example'`;
    await sql`delete from tasks where owner_id = ${heavy.id} and created_at > ${seedRow.seeded_at}`;
  });
  const [prune] = await sql<{ n: number }[]>`
    select count(*)::int as n from tasks t join users u on u.id = t.owner_id where u.email = ${PRUNE_EMAIL}`;
  const [pruneEvents] = await sql<{ n: number }[]>`
    select count(*)::int as n from task_events e join tasks t on t.id = e.task_id join users u on u.id = t.owner_id where u.email = ${PRUNE_EMAIL}`;
  if (prune?.n !== shape.pruneFinished || pruneEvents?.n !== shape.pruneFinished * shape.eventsPerTask) {
    await timed('reuse: restoring the pruner\'s slice', async () => {
      await sql`delete from tasks where owner_id = (select id from users where email = ${PRUNE_EMAIL})`;
      await insertPruneSlice(sql, shape);
      await sql`analyze tasks`;
      await sql`analyze task_events`;
    });
  }
  return heavy.id;
}

async function seed(sql: postgres.Sql, shape: SeedShape): Promise<string> {
  log(`seeding ${shape.finishedTasks} finished tasks (heavy ${shape.heavyFinished}, retired ${shape.pruneFinished}), ` +
    `${shape.heavyBacklog} queued, ${seededEvents(shape)} events, ${shape.otherUsers} other users`);
  await sql`create table bench_scale_seed (shape jsonb not null, seeded_at timestamptz not null, seed_ms integer, finished boolean not null default false)`;
  // Every seeded row is older than seeded_at; a later run removes the heavy user's rows newer than it.
  await sql`insert into bench_scale_seed (shape, seeded_at) values (${sql.json(shape as never)}, now())`;
  const hash = await hashPassword(BENCH_PASSWORD);
  const [heavy] = await sql<{ id: string }[]>`
    insert into users (email, password_hash, role, created_at) values (${HEAVY_EMAIL}, ${hash}, 'admin', now() - interval '400 days') returning id`;
  const heavyId = (heavy as { id: string }).id;
  await sql`
    insert into users (email, role, created_at)
    select 'user-' || g || '@bench.example', 'user', now() - interval '300 days' + g * interval '1 minute'
    from generate_series(1, ${shape.otherUsers}) g`;
  await sql`insert into users (email, role, created_at) values (${PRUNE_EMAIL}, ${PRUNE_ROLE}, now() - interval '600 days')`;
  await sql`
    insert into workspaces (owner_id, name, source, created_at)
    select u.id, 'ws-' || w, '{"type":"empty"}', u.created_at
    from users u cross join generate_series(1, case when u.id = ${heavyId} then ${shape.heavyWorkspaces}::int else ${shape.workspacesPerOtherUser}::int end) w`;

  await sql`set maintenance_work_mem = '1GB'`;
  const restore = await timed('dropping secondary indexes and event constraints', () => dropForBulkLoad(sql));
  await timed('tasks', () => insertTasks(sql, shape, heavyId));
  await timed('task_events', () => insertEvents(sql, shape, heavyId));
  await timed('indexes and constraints again', () => restore());
  await timed('vacuum analyze', async () => {
    await sql`vacuum (analyze) tasks`;
    await sql`vacuum (analyze) task_events`;
    await sql`vacuum (analyze) users`;
    await sql`vacuum (analyze) workspaces`;
    await sql`vacuum (analyze) user_active_tasks`;
  });
  return heavyId;
}

/**
 * Drops the tasks table's secondary indexes and task_events' key and foreign key, returning what makes them
 * again from their own definitions (pg_get_indexdef / pg_get_constraintdef), so the result is the migrated schema.
 */
async function dropForBulkLoad(sql: postgres.Sql): Promise<() => Promise<void>> {
  const indexes = await sql<{ name: string; def: string }[]>`
    select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
    from pg_index i where i.indrelid = 'tasks'::regclass and not i.indisprimary`;
  const constraints = await sql<{ name: string; def: string }[]>`
    select conname as name, pg_get_constraintdef(oid) as def from pg_constraint
    where conrelid = 'task_events'::regclass and contype in ('p', 'f') order by contype desc`;
  for (const i of indexes) await sql.unsafe(`drop index ${i.name}`);
  for (const c of constraints) await sql.unsafe(`alter table task_events drop constraint ${c.name}`);
  return async () => {
    for (const i of indexes) await sql.unsafe(i.def);
    // The key first ('p' sorts after 'f', hence desc above and reverse here).
    for (const c of [...constraints].reverse()) await sql.unsafe(`alter table task_events add constraint ${c.name} ${c.def}`);
  };
}

/**
 * Events seq `from`..`to` of the tasks in `tasks` (columns id, created_at), inserted in the order the worker's
 * event sinks write them: `streams` tasks at a time, each adding `perFlush` events per batch, the batches of
 * the running tasks interleaved. A replay then reads the pages a real one reads, for the seed and the fresh
 * user alike.
 */
export function interleavedStreamsSql(tasks: string, from: string, to: string, streams: string, perFlush: string): string {
  return `
    insert into task_events (task_id, seq, attempt, type, payload, created_at)
    select t.id, s, 1, case when s = ${to} then 'end' else 'claude' end,
      '{"type":"assistant","message":{"content":[{"type":"text","text":"seeded"}]}}', t.created_at + s * interval '1 second'
    from (select id, created_at, row_number() over (order by created_at desc, id) - 1 as n from ${tasks}) t
    cross join generate_series(${from}, ${to}) s
    order by t.n / ${streams}, (s - 1) / ${perFlush}, t.n, s`;
}

// Statuses of finished tasks, by share: what a team's history looks like.
const FINISHED_STATUS = `(case when g % 100 < 70 then 'succeeded' when g % 100 < 90 then 'failed'
  when g % 100 < 97 then 'cancelled' else 'timed_out' end)`;
export const RESULT = `jsonb_build_object('text', 'done', 'is_error', false, 'subtype', 'success', 'num_turns', 3, 'total_cost_usd', 0.01)`;

async function insertTasks(sql: postgres.Sql, shape: SeedShape, heavyId: string): Promise<void> {
  // Workspaces numbered per owner, so a generated row picks its workspace (and owner) by arithmetic.
  await sql`create temp table seed_ws as
    select row_number() over (order by w.owner_id, w.name) - 1 as n, w.id, w.owner_id from workspaces w
    join users u on u.id = w.owner_id where u.email like 'user-%@bench.example'`;
  await sql`create temp table heavy_ws as
    select row_number() over (order by name) - 1 as n, id from workspaces where owner_id = ${heavyId}`;
  const others = shape.finishedTasks - shape.heavyFinished - shape.pruneFinished;
  // History over six months (the retired slice is older), each finished a few minutes after it started;
  // g * 7919 (a prime) modulo the span spreads the times evenly with no two rows of one owner alike.
  await sql.unsafe(`
    insert into tasks (owner_id, workspace_id, status, attempt, prompt, options, result, error_code, created_at,
      enqueued_at, started_at, finished_at, updated_at)
    select w.owner_id, w.id, ${FINISHED_STATUS}, 1, 'seeded task ' || g, '{}', ${RESULT},
      case when g % 100 >= 70 and g % 100 < 90 then 'claude_error' end,
      c.at, c.at, c.at + interval '1 second', c.at + (60 + g % 600) * interval '1 second', c.at + interval '11 minutes'
    from generate_series(0, $1::int - 1) g
    join seed_ws w on w.n = g % $2::int
    cross join lateral (select now() - interval '1 hour' - ((g::bigint * 7919) % 15552000) * interval '1 second' as at) c`, [others, shape.otherUsers * shape.workspacesPerOtherUser]);
  await sql.unsafe(`
    insert into tasks (owner_id, workspace_id, status, attempt, prompt, options, result, error_code, created_at,
      enqueued_at, started_at, finished_at, updated_at)
    select $1::uuid, w.id, ${FINISHED_STATUS}, 1, 'seeded task ' || g, '{}', ${RESULT},
      case when g % 100 >= 70 and g % 100 < 90 then 'claude_error' end,
      c.at, c.at, c.at + interval '1 second', c.at + (60 + g % 600) * interval '1 second', c.at + interval '11 minutes'
    from generate_series(0, $2::int - 1) g
    join heavy_ws w on w.n = g % $3::int
    cross join lateral (select now() - interval '1 hour' - ((g::bigint * 7919) % 15552000) * interval '1 second' as at) c`, [heavyId, shape.heavyFinished, shape.heavyWorkspaces]);
  // The backlog: queued over the last hour, enqueued (the bench adds their jobs), never started.
  await sql.unsafe(`
    insert into tasks (owner_id, workspace_id, status, prompt, options, created_at, enqueued_at, updated_at)
    select $1::uuid, w.id, 'queued', 'backlog task ' || g, '{}', c.at, c.at, c.at
    from generate_series(0, $2::int - 1) g
    join heavy_ws w on w.n = g % $3::int
    cross join lateral (select now() - interval '1 minute' - ((g::bigint * 7919) % 3600) * interval '1 second' as at) c`, [heavyId, shape.heavyBacklog, shape.heavyWorkspaces]);
  await insertPruneSlice(sql, shape);
}

/** The retired user's finished tasks (400 to 500 days old, older than any other history) with their events. */
async function insertPruneSlice(sql: postgres.Sql, shape: SeedShape): Promise<void> {
  await sql.unsafe(`
    with ws as (select w.id, w.owner_id from workspaces w join users u on u.id = w.owner_id where u.email = $1),
    ins as (
      insert into tasks (owner_id, workspace_id, status, attempt, prompt, options, result, created_at, enqueued_at,
        started_at, finished_at, updated_at)
      select ws.owner_id, ws.id, 'succeeded', 1, 'retired task ' || g, '{}', ${RESULT}, c.at, c.at, c.at,
        c.at + interval '5 minutes', c.at + interval '5 minutes'
      from generate_series(0, $2::int - 1) g cross join ws
      cross join lateral (select now() - interval '400 days' - ((g::bigint * 7919) % 8640000) * interval '1 second' as at) c
      returning id, created_at)
    insert into task_events (task_id, seq, attempt, type, payload, created_at)
    select ins.id, s, 1, case when s = 1 then 'status' when s = $3::int then 'end' else 'claude' end,
      '{"type":"assistant","message":{"content":[{"type":"text","text":"seeded"}]}}', ins.created_at + s * interval '1 second'
    from ins cross join generate_series(1, $3::int) s`, [PRUNE_EMAIL, shape.pruneFinished, shape.eventsPerTask]);
}

async function insertEvents(sql: postgres.Sql, shape: SeedShape, heavyId: string): Promise<void> {
  // Ten events per finished task (the retired slice has its own already), and a few heavy tasks with many.
  await sql.unsafe(`
    insert into task_events (task_id, seq, attempt, type, payload, created_at)
    select t.id, s, 1, case when s = 1 then 'status' when s = $1::int then 'end' else 'claude' end,
      '{"type":"assistant","message":{"content":[{"type":"text","text":"seeded"}]}}', t.created_at + s * interval '1 second'
    from tasks t cross join generate_series(1, $1::int) s
    where t.status <> 'queued' and t.owner_id <> (select id from users where email = $2)`, [shape.eventsPerTask, PRUNE_EMAIL]);
  // Those few tasks' stream goes on past the usual tenth event; their `end` moves to the last seq.
  await sql`create temp table many_event_tasks as
    select id, created_at from tasks where owner_id = ${heavyId} and status = 'succeeded' order by created_at desc limit ${shape.manyEventTasks}`;
  await sql`update task_events set type = 'claude' where task_id in (select id from many_event_tasks) and seq = ${shape.eventsPerTask}`;
  await sql.unsafe(interleavedStreamsSql('many_event_tasks', '$1::int + 1', '$2::int', '$3::int', '$4::int'), [
    shape.eventsPerTask,
    shape.eventsPerManyEventTask,
    shape.concurrentStreams,
    shape.eventsPerFlush,
  ]);
}
