import type { Sql } from './client.js';
import type { TaskStatus } from '../domain/task-status.js';

/**
 * Cancels a queued task outright, or marks a running one as cancel-requested (its worker stops it).
 * Returns the status after the update, or the current status when the task was already finished.
 */
export async function requestCancel(
  sql: Sql,
  ownerId: string,
  id: string,
): Promise<{ status: TaskStatus; attempt: number; changed: boolean } | undefined> {
  const [row] = await sql<{ status: TaskStatus; attempt: number }[]>`
    update tasks set
      status = case when status = 'queued' then 'cancelled' else status end,
      error_code = case when status = 'queued' then 'cancelled' else error_code end,
      error_message = case when status = 'queued' then 'task was cancelled before it started' else error_message end,
      finished_at = case when status = 'queued' then now() else finished_at end,
      cancel_requested_at = coalesce(cancel_requested_at, now()),
      updated_at = now()
    where id = ${id} and owner_id = ${ownerId} and status in ('queued', 'running')
    returning status, attempt`;
  if (row) return { ...row, changed: true };
  const [current] = await sql<{ status: TaskStatus; attempt: number }[]>`
    select status, attempt from tasks where id = ${id} and owner_id = ${ownerId}`;
  return current ? { ...current, changed: false } : undefined;
}
