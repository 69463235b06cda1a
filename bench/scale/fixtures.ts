// What one bench run adds to the seeded database: the fresh user (same role as the heavy one) and the
// queue's jobs for the backlog; and the cursor of a deep page.
import type postgres from 'postgres';
import { encodePageCursor } from '../../src/api/page-cursor.js';
import { hashPassword } from '../../src/auth/password.js';
import { CURSOR_CREATED_AT } from '../../src/db/keyset.js';
import type { TaskQueue } from '../../src/queue/task-queue.js';
import { TASK_JOB_NAME } from '../../src/queue/task-queue.js';
import { BENCH_PASSWORD, interleavedStreamsSql, RESULT } from './seed.js';
import type { SeedShape } from './shape.js';

export interface BenchUser {
  id: string;
  email: string;
  workspaceId: string;
  /** A finished task with many events (the replay line). */
  manyEventsTaskId: string;
  /** A finished task of its history (GET /tasks/:id). */
  oldTaskId: string;
  /** Queued tasks to time claims on (rolled back, so they stay queued). */
  queuedTaskIds: string[];
}

const PAYLOAD = '{"type":"assistant","message":{"content":[{"type":"text","text":"seeded"}]}}';

/**
 * A fresh admin with a small history: 200 finished tasks (40 failed), the newest `shape.concurrentStreams` of them with
 * `manyEvents` events and the others with 10, and 100 queued.
 */
export async function createFreshUser(sql: postgres.Sql, runId: string, manyEvents: number, shape: SeedShape): Promise<BenchUser> {
  const email = `fresh-${runId}@bench.example`;
  const hash = await hashPassword(BENCH_PASSWORD);
  const [user] = await sql<{ id: string }[]>`insert into users (email, password_hash, role) values (${email}, ${hash}, 'admin') returning id`;
  const id = (user as { id: string }).id;
  const [ws] = await sql<{ id: string }[]>`insert into workspaces (owner_id, name, source) values (${id}, 'fresh', '{"type":"empty"}') returning id`;
  const workspaceId = (ws as { id: string }).id;
  // Rows like the seed's: a result on each, an error code on the failed ones.
  await sql.unsafe(`
    insert into tasks (owner_id, workspace_id, status, attempt, prompt, options, result, error_code, created_at, enqueued_at, started_at, finished_at, updated_at)
    select $1::uuid, $2::uuid, case when g % 5 = 0 then 'failed' else 'succeeded' end, 1, 'fresh task ' || g, '{}', ${RESULT},
      case when g % 5 = 0 then 'claude_error' end,
      now() - g * interval '1 hour', now() - g * interval '1 hour', now() - g * interval '1 hour',
      now() - g * interval '1 hour' + interval '2 minutes', now() - g * interval '1 hour' + interval '2 minutes'
    from generate_series(1, 200) g`, [id, workspaceId]);
  // The newest `streams` tasks ran at once, each with `manyEvents` events, laid out as the seed's are.
  const newest = '(select id, created_at from tasks where owner_id = $4::uuid order by created_at desc limit $2::int) newest';
  await sql.unsafe(interleavedStreamsSql(newest, '1', '$1::int', '$2::int', '$3::int'), [manyEvents, shape.concurrentStreams, shape.eventsPerFlush, id]);
  await sql`
    insert into task_events (task_id, seq, attempt, type, payload, created_at)
    select t.id, s, 1, case when s = 10 then 'end' else 'claude' end, ${PAYLOAD}::jsonb, t.created_at
    from tasks t cross join generate_series(1, 10) s
    where t.owner_id = ${id} and not exists (select 1 from task_events e where e.task_id = t.id)`;
  const [many] = await sql<{ id: string }[]>`select id from tasks where owner_id = ${id} and prompt = 'fresh task 1'`;
  const manyEventsTaskId = (many as { id: string }).id;
  const [old] = await sql<{ id: string }[]>`select id from tasks where owner_id = ${id} and prompt = 'fresh task 90'`;
  const queued = await sql<{ id: string }[]>`
    insert into tasks (owner_id, workspace_id, prompt, options, enqueued_at)
    select ${id}, ${workspaceId}, 'fresh queued ' || g, '{}', now() from generate_series(1, 100) g returning id`;
  await sql`analyze users`;
  return { id, email, workspaceId, manyEventsTaskId, oldTaskId: (old as { id: string }).id, queuedTaskIds: queued.map((r) => r.id) };
}

/** The heavy user's tasks each line needs (picked from the seeded history and backlog). */
export async function heavyUser(sql: postgres.Sql, id: string, email: string, manyEvents: number): Promise<BenchUser> {
  const [ws] = await sql<{ id: string }[]>`select id from workspaces where owner_id = ${id} order by name limit 1`;
  // The seed gave the heavy user's newest succeeded tasks their many events.
  const [many] = await sql<{ id: string; events: number }[]>`
    select t.id, (select count(*)::int from task_events e where e.task_id = t.id) as events
    from tasks t where t.owner_id = ${id} and t.status = 'succeeded' order by t.created_at desc limit 1`;
  if (!many || many.events < manyEvents) throw new Error(`the heavy user's newest task has ${many?.events} events, not ${manyEvents}: drop the bench database`);
  const [old] = await sql<{ id: string }[]>`select id from tasks where owner_id = ${id} and status <> 'queued' order by created_at limit 1`;
  const queued = await sql<{ id: string }[]>`select id from tasks where owner_id = ${id} and status = 'queued' order by random() limit 100`;
  return {
    id,
    email,
    workspaceId: (ws as { id: string }).id,
    manyEventsTaskId: (many as { id: string }).id,
    oldTaskId: (old as { id: string }).id,
    queuedTaskIds: queued.map((r) => r.id),
  };
}

/** Adds a job for every queued task of the owner, as the API does (job id = task id, data {taskId}). */
export async function enqueueBacklog(sql: postgres.Sql, queue: TaskQueue, ownerId: string): Promise<number> {
  const ids = await sql<{ id: string }[]>`select id from tasks where owner_id = ${ownerId} and status = 'queued'`;
  for (let i = 0; i < ids.length; i += 1000) {
    const batch = ids.slice(i, i + 1000).map(({ id }) => ({ name: TASK_JOB_NAME, data: { taskId: id }, opts: { jobId: id } }));
    await queue.addBulk(batch as never);
  }
  return ids.length;
}

/**
 * The list cursor of the row at `depth` of the owner's list (newest first), optionally of one status. The
 * cursor's text is the API's: `checkCursorFormat` proves the encoding against a real answer first.
 */
export async function cursorAt(sql: postgres.Sql, ownerId: string, depth: number, status?: string): Promise<string> {
  const [row] = await sql<{ cursor_created_at: string; id: string }[]>`
    select ${sql.unsafe(CURSOR_CREATED_AT)}, id from tasks where owner_id = ${ownerId} ${status ? sql`and status = ${status}` : sql``}
    order by created_at desc, id desc offset ${depth} limit 1`;
  if (!row) throw new Error(`no task at depth ${depth} for ${ownerId}`);
  return encodePageCursor({ createdAt: row.cursor_created_at, id: row.id });
}

/** Fails unless the API's next_cursor for a first page is what `cursorAt` would make for its last row. */
export async function checkCursorFormat(sql: postgres.Sql, page: { items: Array<{ id: string }>; next_cursor: string | null }): Promise<void> {
  const last = page.items[page.items.length - 1];
  if (!last || !page.next_cursor) throw new Error('cannot check the cursor format: the first page has no next_cursor');
  const [row] = await sql<{ cursor_created_at: string }[]>`select ${sql.unsafe(CURSOR_CREATED_AT)} from tasks where id = ${last.id}`;
  const mine = encodePageCursor({ createdAt: row!.cursor_created_at, id: last.id });
  if (mine !== page.next_cursor) throw new Error(`the API's cursor format changed (${page.next_cursor} vs ${mine}): update bench/scale/fixtures.ts`);
}
