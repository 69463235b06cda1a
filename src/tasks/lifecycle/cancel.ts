import type { Sql } from '../../db/client.js';
import { appendTaskEvents } from '../../db/task-events.js';
import { insertOutbox } from '../../db/task-outbox.js';
import { isTerminalStatus, type TaskStatus } from '../../domain/task-status.js';
import type { OutboxEffects } from './effects.js';
import { terminalOutbox } from './attempt-end.js';

export type CancelOutcome = 'cancelled' | 'requested' | 'already_finished' | 'missing';

const NOT_STARTED = 'task was cancelled before it started';

/**
 * A queued task is cancelled at once (its job removed, its end written). A running one keeps running until
 * its worker stops it: the row records `cancel_requested_at`, which the worker polls, and the outbox
 * publishes a cancel on the control channel so that it stops sooner. A retry that starts later sees the
 * request at claim and cancels too.
 */
export async function cancel(tx: Sql, ownerId: string, taskId: string): Promise<{ value: CancelOutcome; outboxId: string | null }> {
  const [row] = await tx<{ status: TaskStatus; attempt: number; webhook_url: string | null }[]>`
    select status, attempt, webhook_url from tasks where id = ${taskId} and owner_id = ${ownerId} for update`;
  if (!row) return { value: 'missing', outboxId: null };
  if (isTerminalStatus(row.status)) return { value: 'already_finished', outboxId: null };
  if (row.status === 'running') {
    await tx`update tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = ${taskId}`;
    const effects: OutboxEffects = { control: { type: 'cancel', taskId } };
    return { value: 'requested', outboxId: await insertOutbox(tx, taskId, 'cancel_request', effects) };
  }
  const error = { code: 'cancelled', message: NOT_STARTED };
  const events = await appendTaskEvents(tx, taskId, row.attempt, [
    { type: 'status', payload: { status: 'cancelled' } },
    { type: 'end', payload: { status: 'cancelled', error } },
  ]);
  await tx`
    update tasks set status = 'cancelled', error_code = 'cancelled', error_message = ${NOT_STARTED},
      finished_at = now(), cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
    where id = ${taskId}`;
  // The job is removed by the relay, after commit: a worker that takes it first finds the task terminal.
  const committed = await terminalOutbox(tx, taskId, 'cancel', row.webhook_url, events, { status: 'cancelled', errorCode: 'cancelled' }, { removeJob: true });
  return { value: 'cancelled', outboxId: committed.outboxId };
}
