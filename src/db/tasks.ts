import type { Sql } from './client.js';
import { CURSOR_CREATED_AT, type KeysetPosition } from './keyset.js';
import type { TaskRecord } from '../domain/task-json.js';
import type { TaskStatus } from '../domain/task-status.js';

export interface TaskOptions {
  model?: string;
  max_turns?: number;
  timeout_seconds?: number;
  max_budget_usd?: number;
  permission_mode?: 'default' | 'acceptEdits' | 'plan' | 'bypassPermissions';
  allowed_tools?: string[];
  disallowed_tools?: string[];
  append_system_prompt?: string;
  resources?: { memory_mb?: number; cpus?: number; pids?: number };
  resume_from?: string;
  priority?: number;
  /** Push the work as a branch when the task succeeds (src/domain/branch-push.ts). */
  push?: boolean;
}

/** The stored task: what its JSON shows (the domain's TaskRecord) plus what only the system reads. */
export interface TaskRow extends TaskRecord {
  owner_id: string;
  options: TaskOptions;
  diff_truncated: boolean;
  worker_id: string | null;
  enqueued_at: Date | null;
}

// The diff can be megabytes: it is read only by the diff endpoint. (Also what a submission returns: src/db/task-submit.ts.)
export const TASK_COLUMNS = `id, owner_id, workspace_id, status, attempt, prompt, options, metadata, result, error_code,
  error_message, attempt_errors, exit_code, usage, diff_truncated, worker_id, webhook_url, cancel_requested_at, push, created_at,
  enqueued_at, started_at, finished_at`;

export async function insertTask(
  sql: Sql,
  t: {
    ownerId: string;
    workspaceId: string;
    prompt: string;
    options: TaskOptions;
    metadata: Record<string, unknown> | null;
    webhookUrl?: string | null;
  },
): Promise<TaskRow> {
  const [row] = await sql<TaskRow[]>`
    insert into tasks (owner_id, workspace_id, prompt, options, metadata, webhook_url)
    values (${t.ownerId}, ${t.workspaceId}, ${t.prompt}, ${sql.json(t.options as never)},
      ${t.metadata ? sql.json(t.metadata as never) : null}, ${t.webhookUrl ?? null})
    returning ${sql.unsafe(TASK_COLUMNS)}`;
  return row as TaskRow;
}

/**
 * The job of a queued task was added now. The API sets enqueued_at in the submission itself (and clears it
 * when the add failed); the reconciler, which adds only jobs that were missing, calls this after its add.
 */
export async function markEnqueued(sql: Sql, id: string): Promise<void> {
  await sql`update tasks set enqueued_at = now() where id = ${id} and status = 'queued'`;
}

export async function findTask(sql: Sql, ownerId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await sql<TaskRow[]>`select ${sql.unsafe(TASK_COLUMNS)} from tasks where id = ${id} and owner_id = ${ownerId}`;
  return row;
}

/** Without an owner scope: for the worker side only (webhook delivery), never for a request. */
export async function findTaskById(sql: Sql, id: string): Promise<TaskRow | undefined> {
  const [row] = await sql<TaskRow[]>`select ${sql.unsafe(TASK_COLUMNS)} from tasks where id = ${id}`;
  return row;
}

export async function findTaskDiff(
  sql: Sql,
  ownerId: string,
  id: string,
): Promise<{ status: TaskStatus; diff: string | null; diff_truncated: boolean } | undefined> {
  const [row] = await sql<{ status: TaskStatus; diff: string | null; diff_truncated: boolean }[]>`
    select status, diff, diff_truncated from tasks where id = ${id} and owner_id = ${ownerId}`;
  return row;
}


/** Keyset pagination on (created_at, id) descending: stable under concurrent inserts. */
export async function listTasks(
  sql: Sql,
  ownerId: string,
  q: { workspaceId?: string; status?: TaskStatus; cursor?: KeysetPosition; limit: number },
): Promise<Array<TaskRow & { cursor_created_at: string }>> {
  // A workspace's tasks are all its owner's (a task is submitted through its owner's workspace), so with a
  // workspace the owner is checked once, on the workspace row. An owner predicate on tasks too would let
  // the plan the driver's prepared statement settles on (generic, blind to the owner's skew) intersect the
  // owner's whole history with the workspace's and sort it: 108 ms for a 300,000-task owner, against 0.1.
  const scope = q.workspaceId
    ? sql`workspace_id = ${q.workspaceId} and exists (select 1 from workspaces w where w.id = ${q.workspaceId} and w.owner_id = ${ownerId})`
    : sql`owner_id = ${ownerId}`;
  return sql<Array<TaskRow & { cursor_created_at: string }>>`
    select ${sql.unsafe(TASK_COLUMNS)}, ${sql.unsafe(CURSOR_CREATED_AT)} from tasks
    where ${scope}
      ${q.status ? sql`and status = ${q.status}` : sql``}
      ${q.cursor ? sql`and (created_at, id) < (${q.cursor.createdAt}::text::timestamptz, ${q.cursor.id}::uuid)` : sql``}
    order by created_at desc, id desc
    limit ${q.limit}`;
}

/** Rows accepted by the API whose job may never have reached Redis (the reconciler re-adds them). */
export interface QueuedRow {
  id: string;
  priority: number | null;
  cursor_created_at: string;
}

/**
 * One page of the queued rows older than `olderThanMs`, in (created_at, id) order after `after`: the
 * reconciler walks the whole backlog a page per round, so every queued row is looked at, not only the
 * oldest page.
 */
export async function listQueuedPage(
  sql: Sql,
  o: { olderThanMs: number; limit: number; after?: KeysetPosition },
): Promise<QueuedRow[]> {
  const older = sql`created_at < now() - make_interval(secs => ${o.olderThanMs / 1000})`;
  const columns = sql`id, (options->>'priority')::int as priority, ${sql.unsafe(CURSOR_CREATED_AT)}`;
  // Two statements, not one with a nullable bound: a generic plan keeps the bound in the index condition.
  if (!o.after) {
    return sql<QueuedRow[]>`select ${columns} from tasks where status = 'queued' and ${older} order by created_at, id limit ${o.limit}`;
  }
  return sql<QueuedRow[]>`
    select ${columns} from tasks
    where status = 'queued' and ${older}
      and (created_at, id) > (${o.after.createdAt}::text::timestamptz, ${o.after.id}::uuid)
    order by created_at, id limit ${o.limit}`;
}
