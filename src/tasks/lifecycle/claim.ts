import type { Sql } from '../../db/client.js';
import { appendTaskEvents } from '../../db/task-events.js';
import type { TaskLease } from '../../db/task-lease.js';
import { insertOutbox } from '../../db/task-outbox.js';
import type { TaskOptions } from '../../db/tasks.js';
import type { WorkspaceSource } from '../../db/workspaces.js';
import type { OutboxEffects } from './effects.js';

export interface ClaimedTask {
  id: string;
  /** This claim's lease: every write of the attempt is fenced by it (src/db/task-lease.ts). */
  lease: TaskLease;
  cancel_requested_at: Date | null;
  webhook_url: string | null;
  owner_id: string;
  workspace_id: string;
  /** The attempt number, as events and the API show it; equal to lease.lease. */
  attempt: number;
  prompt: string;
  options: TaskOptions;
  source: WorkspaceSource;
  created_at: Date;
  enqueued_at: Date | null;
  /** The seq the attempt's first own event takes (the claim's `running` event is stored already). */
  nextSeq: number;
}

export type ClaimResult = { kind: 'claimed'; task: ClaimedTask } | { kind: 'terminal' } | { kind: 'over_limit'; reason: string };

export interface Limits {
  perUser: number;
  perWorkspace: number;
}

/**
 * Claims a task only while its owner and workspace are under their running limits (the owner's role
 * decides them). The check and the claim happen under a per-owner advisory lock, so two workers cannot
 * both take the last slot. A task over its limit is left queued for the caller to delay; a terminal one
 * (cancelled while waiting, or finished by an earlier delivery) is not claimed.
 */
export async function claimWithinLimits(
  tx: Sql,
  id: string,
  workerId: string,
  limitsFor: (role: string) => Limits,
): Promise<{ value: ClaimResult; outboxId: string | null }> {
  const [owner] = await tx<{ owner_id: string; workspace_id: string; role: string }[]>`
    select t.owner_id, t.workspace_id, u.role from tasks t join users u on u.id = t.owner_id
    where t.id = ${id} and t.status in ('queued', 'running')`;
  if (!owner) return { value: { kind: 'terminal' }, outboxId: null };
  await tx`select pg_advisory_xact_lock(hashtextextended(${`aicli:owner:${owner.owner_id}`}, 0))`;
  // Two counts, each an equality on (owner_id, status) or (workspace_id, status): a short range of an index
  // (migration 0008) holding only the running rows of that owner or workspace, whatever its history.
  const [running] = await tx<{ user_running: number; workspace_running: number }[]>`
    select (select count(*) from tasks where owner_id = ${owner.owner_id} and status = 'running' and id <> ${id})::int as user_running,
      (select count(*) from tasks where workspace_id = ${owner.workspace_id} and status = 'running' and id <> ${id})::int as workspace_running`;
  const limits = limitsFor(owner.role);
  const users = running?.user_running ?? 0;
  const workspaces = running?.workspace_running ?? 0;
  if (users >= limits.perUser) return overLimit(`user already runs ${users} tasks (limit ${limits.perUser})`);
  if (workspaces >= limits.perWorkspace) return overLimit(`workspace already runs ${workspaces} tasks (limit ${limits.perWorkspace})`);
  return claim(tx, id, workerId);
}

const overLimit = (reason: string) => ({ value: { kind: 'over_limit', reason } as const, outboxId: null });

/** Takes the task for one attempt: bumps the lease, sets `running` and stores the attempt's `running` event. */
export async function claim(tx: Sql, id: string, workerId: string): Promise<{ value: ClaimResult; outboxId: string | null }> {
  const [row] = await tx<Array<Omit<ClaimedTask, 'lease' | 'nextSeq'>>>`
    update tasks t set attempt = t.attempt + 1, status = 'running', worker_id = ${workerId},
      started_at = coalesce(t.started_at, clock_timestamp()), updated_at = now()
    from workspaces w
    where t.id = ${id} and w.id = t.workspace_id and t.status in ('queued', 'running')
    returning t.id, t.owner_id, t.workspace_id, t.attempt, t.prompt, t.options, w.source, t.created_at, t.enqueued_at,
      t.cancel_requested_at, t.webhook_url`;
  if (!row) return { value: { kind: 'terminal' }, outboxId: null };
  const events = await appendTaskEvents(tx, id, row.attempt, [{ type: 'status', payload: { status: 'running', attempt: row.attempt, worker_id: workerId } }]);
  const effects: OutboxEffects = { events };
  const outboxId = await insertOutbox(tx, id, 'claim', effects);
  const nextSeq = (events[events.length - 1]?.seq ?? 0) + 1;
  return { value: { kind: 'claimed', task: { ...row, lease: { taskId: id, lease: row.attempt }, nextSeq } }, outboxId };
}
