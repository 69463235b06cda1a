import type { Sql } from './client.js';
import { pgSafeJson, pgSafeNullableText, pgSafeText } from './pg-safe.js';
import type { WorkspaceSource } from './workspaces.js';
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
}

export interface TaskRow {
  id: string;
  owner_id: string;
  workspace_id: string;
  status: TaskStatus;
  attempt: number;
  prompt: string;
  options: TaskOptions;
  metadata: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  error_code: string | null;
  error_message: string | null;
  attempt_errors: Array<{ attempt: number; code: string; message: string; at: string }>;
  exit_code: number | null;
  usage: Record<string, unknown> | null;
  diff_truncated: boolean;
  worker_id: string | null;
  webhook_url: string | null;
  cancel_requested_at: Date | null;
  created_at: Date;
  enqueued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

// The diff can be megabytes: it is read only by the diff endpoint.
const COLUMNS = `id, owner_id, workspace_id, status, attempt, prompt, options, metadata, result, error_code,
  error_message, attempt_errors, exit_code, usage, diff_truncated, worker_id, webhook_url, cancel_requested_at, created_at,
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
    returning ${sql.unsafe(COLUMNS)}`;
  return row as TaskRow;
}

export async function markEnqueued(sql: Sql, id: string): Promise<void> {
  await sql`update tasks set enqueued_at = now() where id = ${id} and enqueued_at is null`;
}

export async function findTask(sql: Sql, ownerId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await sql<TaskRow[]>`select ${sql.unsafe(COLUMNS)} from tasks where id = ${id} and owner_id = ${ownerId}`;
  return row;
}

/** Without an owner scope: for the worker side only (webhook delivery), never for a request. */
export async function findTaskById(sql: Sql, id: string): Promise<TaskRow | undefined> {
  const [row] = await sql<TaskRow[]>`select ${sql.unsafe(COLUMNS)} from tasks where id = ${id}`;
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

export interface TaskCursor {
  createdAt: string;
  id: string;
}

/** Keyset pagination on (created_at, id) descending: stable under concurrent inserts. */
export async function listTasks(
  sql: Sql,
  ownerId: string,
  q: { workspaceId?: string; status?: TaskStatus; cursor?: TaskCursor; limit: number },
): Promise<TaskRow[]> {
  return sql<TaskRow[]>`
    select ${sql.unsafe(COLUMNS)} from tasks
    where owner_id = ${ownerId}
      ${q.workspaceId ? sql`and workspace_id = ${q.workspaceId}` : sql``}
      ${q.status ? sql`and status = ${q.status}` : sql``}
      ${q.cursor ? sql`and (created_at, id) < (${q.cursor.createdAt}::timestamptz, ${q.cursor.id}::uuid)` : sql``}
    order by created_at desc, id desc
    limit ${q.limit}`;
}

/** Rows accepted by the API whose job may never have reached Redis (the reconciler re-adds them). */
export async function listQueuedSince(sql: Sql, olderThanMs: number, limit: number): Promise<Array<{ id: string; priority: number | null }>> {
  return sql<Array<{ id: string; priority: number | null }>>`
    select id, (options->>'priority')::int as priority from tasks
    where status = 'queued' and created_at < now() - make_interval(secs => ${olderThanMs / 1000})
    order by created_at limit ${limit}`;
}

export interface ClaimedTask {
  id: string;
  cancel_requested_at: Date | null;
  webhook_url: string | null;
  owner_id: string;
  workspace_id: string;
  attempt: number;
  prompt: string;
  options: TaskOptions;
  source: WorkspaceSource;
  created_at: Date;
  enqueued_at: Date | null;
}

export type ClaimResult = { kind: 'claimed'; task: ClaimedTask } | { kind: 'terminal' } | { kind: 'over_limit'; reason: string };

/**
 * Claims a task only while its owner and workspace are under their running limits (the owner's role
 * decides them). The check and the claim happen under a per-owner advisory lock, so two workers cannot
 * both take the last slot. A task over its limit is left queued for the caller to delay.
 */
export async function claimTaskWithinLimits(
  sql: Sql,
  id: string,
  workerId: string,
  limitsFor: (role: string) => { perUser: number; perWorkspace: number },
): Promise<ClaimResult> {
  return sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    const [owner] = await t<{ owner_id: string; workspace_id: string; role: string }[]>`
      select t.owner_id, t.workspace_id, u.role from tasks t join users u on u.id = t.owner_id
      where t.id = ${id} and t.status in ('queued', 'running')`;
    if (!owner) return { kind: 'terminal' } as const;
    await t`select pg_advisory_xact_lock(hashtextextended(${`aicli:owner:${owner.owner_id}`}, 0))`;
    const [running] = await t<{ user_running: number; workspace_running: number }[]>`
      select count(*) filter (where owner_id = ${owner.owner_id})::int as user_running,
             count(*) filter (where workspace_id = ${owner.workspace_id})::int as workspace_running
      from tasks where status = 'running' and id <> ${id}
        and (owner_id = ${owner.owner_id} or workspace_id = ${owner.workspace_id})`;
    const limits = limitsFor(owner.role);
    if ((running?.user_running ?? 0) >= limits.perUser) {
      return { kind: 'over_limit', reason: `user already runs ${running?.user_running} tasks (limit ${limits.perUser})` } as const;
    }
    if ((running?.workspace_running ?? 0) >= limits.perWorkspace) {
      return { kind: 'over_limit', reason: `workspace already runs ${running?.workspace_running} tasks (limit ${limits.perWorkspace})` } as const;
    }
    const task = await claimTask(t, id, workerId);
    return task ? ({ kind: 'claimed', task } as const) : ({ kind: 'terminal' } as const);
  });
}

/**
 * Takes the task for one attempt: bumps the fencing token and sets running. A task that is already
 * terminal (cancelled while waiting, or finished by an earlier delivery) is not claimed.
 */
export async function claimTask(sql: Sql, id: string, workerId: string): Promise<ClaimedTask | undefined> {
  const [row] = await sql<ClaimedTask[]>`
    update tasks t set attempt = t.attempt + 1, status = 'running', worker_id = ${workerId},
      started_at = coalesce(t.started_at, clock_timestamp()), updated_at = now()
    from workspaces w
    where t.id = ${id} and w.id = t.workspace_id and t.status in ('queued', 'running')
    returning t.id, t.owner_id, t.workspace_id, t.attempt, t.prompt, t.options, w.source, t.created_at, t.enqueued_at,
      t.cancel_requested_at, t.webhook_url`;
  return row;
}

export interface TaskOutcomeWrite {
  status: Exclude<TaskStatus, 'queued' | 'running'>;
  result: Record<string, unknown> | null;
  errorCode: string | null;
  errorMessage: string | null;
  exitCode: number | null;
  usage: Record<string, unknown> | null;
  diff: string | null;
  diffTruncated: boolean;
}

/**
 * The one terminal write of an attempt. Returns false when a newer attempt holds the task (fenced out).
 * Result, message, usage and diff quote the agent: they are made storable first (pg-safe.ts).
 */
export async function finishTask(sql: Sql, id: string, attempt: number, given: TaskOutcomeWrite): Promise<boolean> {
  const o = storableOutcome(given);
  const rows = await sql`
    update tasks set status = ${o.status}, result = ${o.result ? sql.json(o.result as never) : null},
      error_code = ${o.errorCode}, error_message = ${o.errorMessage}, exit_code = ${o.exitCode},
      usage = ${o.usage ? sql.json(o.usage as never) : null}, diff = ${o.diff}, diff_truncated = ${o.diffTruncated},
      finished_at = now(), updated_at = now()
    where id = ${id} and attempt = ${attempt} and status = 'running'`;
  return rows.count === 1;
}

function storableOutcome(o: TaskOutcomeWrite): TaskOutcomeWrite {
  return {
    ...o,
    result: o.result ? pgSafeJson(o.result) : null,
    errorMessage: pgSafeNullableText(o.errorMessage),
    usage: o.usage ? pgSafeJson(o.usage) : null,
    diff: pgSafeNullableText(o.diff),
  };
}

/** An attempt's error as kept in attempt_errors; its message may quote the agent. */
function attemptError(attempt: number, err: { code: string; message: string }) {
  return { attempt, code: err.code, message: pgSafeText(err.message), at: new Date().toISOString() };
}

/** An infrastructure fault that will be retried: the row goes back to queued and keeps the attempt's error. */
export async function requeueAfterFault(
  sql: Sql,
  id: string,
  attempt: number,
  err: { code: string; message: string },
): Promise<boolean> {
  const entry = attemptError(attempt, err);
  const rows = await sql`
    update tasks set status = 'queued', attempt_errors = attempt_errors || ${sql.json([entry] as never)}::jsonb,
      updated_at = now()
    where id = ${id} and attempt = ${attempt} and status = 'running'`;
  return rows.count === 1;
}

/** Final failure after the last attempt: records the attempt's error as well as the terminal error. */
export async function failAfterFaults(
  sql: Sql,
  id: string,
  attempt: number,
  err: { code: string; message: string },
): Promise<boolean> {
  const entry = attemptError(attempt, err);
  const rows = await sql`
    update tasks set status = 'failed', error_code = ${err.code}, error_message = ${entry.message},
      attempt_errors = attempt_errors || ${sql.json([entry] as never)}::jsonb, finished_at = now(), updated_at = now()
    where id = ${id} and attempt = ${attempt} and status = 'running'`;
  return rows.count === 1;
}
