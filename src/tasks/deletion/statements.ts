import type postgres from 'postgres';
import { TERMINAL_STATUSES } from '../../domain/task-status.js';

/** A connection or pool that can run one statement (a reserved connection in the purger). */
type Runner = postgres.Sql | postgres.ReservedSql;

/** What one purge step works on: every task of a deleted workspace, or every task a deleted user owns. */
export type PurgeScope = { kind: 'workspace'; id: string } | { kind: 'user'; id: string };

const inScope = (sql: Runner, scope: PurgeScope) =>
  scope.kind === 'workspace' ? sql`t.workspace_id = ${scope.id}` : sql`t.owner_id = ${scope.id}`;

/** Deleted workspaces and users, oldest deletion first, a bounded number per round. */
export async function deletedWorkspaces(sql: Runner, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from workspaces where deleted_at is not null order by deleted_at limit ${limit}`;
  return rows.map((r) => r.id);
}

export async function deletedUsers(sql: Runner, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from users where deleted_at is not null order by deleted_at limit ${limit}`;
  return rows.map((r) => r.id);
}

/**
 * Up to `limit` tasks of the scope still to cancel before anything is removed: queued ones, and running
 * ones not yet asked to stop (a running task asked once stops at its worker; asking every round again
 * would only repeat the control message).
 */
export async function activeTasks(sql: Runner, scope: PurgeScope, limit: number): Promise<{ id: string; owner_id: string }[]> {
  return sql<{ id: string; owner_id: string }[]>`
    select t.id, t.owner_id from tasks t
    where ${inScope(sql, scope)} and (t.status = 'queued' or (t.status = 'running' and t.cancel_requested_at is null))
    limit ${limit}`;
}

/**
 * Removes the scope's schedules (and their runs) first, so no tick makes a task there while the rest goes;
 * their job schedulers are removed at their next tick or by the schedule sync. The count removed.
 */
export async function deleteSchedules(sql: Runner, scope: PurgeScope): Promise<number> {
  const result = scope.kind === 'workspace' ? await sql`delete from schedules where workspace_id = ${scope.id}` : await sql`delete from schedules where owner_id = ${scope.id}`;
  return result.count;
}

/**
 * Deletes up to `batch` finished tasks of the scope (the FKs cascade to their events, artifacts and
 * deliveries); the count removed. A task some transition holds is left to the next statement.
 */
export async function deleteFinishedTasks(sql: Runner, scope: PurgeScope, batch: number): Promise<number> {
  const result = await sql`
    delete from tasks where id in (
      select t.id from tasks t
      where ${inScope(sql, scope)} and t.status = any(${TERMINAL_STATUSES as unknown as string[]}::text[])
      limit ${batch}
      for update of t skip locked)`;
  return result.count;
}

/** Removes the deleted workspace's row once no task of it is left; whether it did. */
export async function deleteEmptyWorkspace(sql: Runner, id: string): Promise<boolean> {
  const result = await sql`
    delete from workspaces w where w.id = ${id} and w.deleted_at is not null
      and not exists (select 1 from tasks t where t.workspace_id = w.id)`;
  return result.count > 0;
}

/**
 * Removes the deleted user's row once no task and no workspace of theirs is left; whether it did. Their
 * keys, sessions and identities go with it (FK cascade); the audit log keeps its rows (no FK).
 */
export async function deleteEmptyUser(sql: Runner, id: string): Promise<boolean> {
  const result = await sql`
    delete from users u where u.id = ${id} and u.deleted_at is not null
      and not exists (select 1 from tasks t where t.owner_id = u.id)
      and not exists (select 1 from workspaces w where w.owner_id = u.id)`;
  return result.count > 0;
}
