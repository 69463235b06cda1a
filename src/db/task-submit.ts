import type { Sql } from './client.js';
import { TASK_COLUMNS, type TaskOptions, type TaskRow } from './tasks.js';

export interface TaskSubmission {
  ownerId: string;
  workspaceId: string;
  prompt: string;
  options: TaskOptions;
  metadata: Record<string, unknown> | null;
  webhookUrl: string | null;
  /** The owner's cap of queued and running tasks: a submission finding this many already is refused. */
  maxActive: number;
  /**
   * The request did not say whether to push: the workspace's `push.default` decides, read in this same
   * statement (a workspace with a push target has a git source, src/api/routes/workspaces.ts).
   */
  pushByDefault?: boolean;
  /** With an Idempotency-Key: the key is claimed in the same statement, pointing at the new task. */
  idempotency?: { key: string; requestHash: string; ttlMs: number };
}

/**
 * What one submission statement did. Nothing is written unless a task is created (a refused one leaves
 * no row, no key and no count behind). `active` is the owner's count before this task (null when the
 * workspace was not found, since then the count is not read).
 */
export type SubmitResult =
  | { kind: 'created'; task: TaskRow }
  | { kind: 'no_workspace' }
  /** Over the cap, or (with a key) the key is held by an earlier request: the caller reads the key. */
  | { kind: 'refused'; active: number };

type SubmitRow = TaskRow & { workspace_found: boolean; active_before: number | null };

/**
 * Stores a new queued task in one statement (one round trip, its own transaction): the workspace's
 * ownership check, the cap check, the Idempotency-Key claim, the workspace's push default and the insert.
 *
 * The cap is exact under concurrency: the statement first locks the owner's counter row (migration 0007)
 * with a no-op upsert, which waits for any other submission or transition of that owner holding it and
 * then returns the latest committed count; the task is inserted only below the cap, and the tasks trigger
 * then counts it on the same (still locked) row before the statement commits.
 *
 * A workspace being deleted holds its row lock (src/db/workspaces.ts): the lock here waits for it and then
 * sees the workspace gone, so no task lands in a deleted workspace.
 *
 * `enqueued_at` is set here, just before the caller adds the job: the caller clears it when the add fails
 * (src/api/routes/tasks.ts), and the reconciler sets it again when it adds a missing job.
 */
export async function submitTask(sql: Sql, s: TaskSubmission): Promise<SubmitResult> {
  const k = s.idempotency;
  // An expired key is taken over (as if it had been deleted first), a live one is left as it is; a
  // concurrent claim of the same key makes `on conflict` wait for it, so one key makes one task.
  const claim = k
    ? sql`claimed as (
        insert into idempotency_keys (owner_id, key, request_hash, expires_at, task_id)
        select ${s.ownerId}, ${k.key}, ${k.requestHash}, now() + make_interval(secs => ${k.ttlMs / 1000}), id from fresh
        on conflict (owner_id, key) do update
          set request_hash = excluded.request_hash, expires_at = excluded.expires_at, task_id = excluded.task_id, created_at = now()
          where idempotency_keys.expires_at < now()
        returning task_id as id),`
    : sql``;
  const [row] = await sql<SubmitRow[]>`
    with ws as (select id, push from workspaces where id = ${s.workspaceId} and owner_id = ${s.ownerId} and deleted_at is null for key share),
    counter as (
      insert into user_active_tasks (owner_id, active) select ${s.ownerId}, 0 from ws
      on conflict (owner_id) do update set active = user_active_tasks.active
      returning active),
    fresh as (select gen_random_uuid() as id from counter where active < ${s.maxActive}),
    ${claim}
    created as (
      insert into tasks (id, owner_id, workspace_id, prompt, options, metadata, webhook_url, enqueued_at)
      select n.id, ${s.ownerId}, ${s.workspaceId}, ${s.prompt},
        ${sql.json(s.options as never)}::jsonb
          || case when ${s.pushByDefault === true} and coalesce((ws.push->>'default')::boolean, false) then '{"push": true}'::jsonb else '{}'::jsonb end,
        ${s.metadata ? sql.json(s.metadata as never) : null}, ${s.webhookUrl}, now()
      from ${k ? sql`claimed` : sql`fresh`} n cross join ws
      returning ${sql.unsafe(TASK_COLUMNS)})
    select created.*, exists (select 1 from ws) as workspace_found, (select active from counter) as active_before
    from (values (1)) as one left join created on true`;
  const r = row as SubmitRow;
  if (!r.workspace_found) return { kind: 'no_workspace' };
  const { workspace_found: _w, active_before: active, ...task } = r;
  if (task.id === null) return { kind: 'refused', active: active ?? 0 };
  return { kind: 'created', task };
}

/** The job could not be added: the row shows no enqueue until the reconciler adds the job. */
export async function clearEnqueued(sql: Sql, id: string): Promise<void> {
  await sql`update tasks set enqueued_at = null where id = ${id} and status = 'queued'`;
}
