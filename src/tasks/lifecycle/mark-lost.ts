import type { Sql } from '../../db/client.js';
import { appendTaskEvents } from '../../db/task-events.js';
import { terminalOutbox } from './attempt-end.js';

/**
 * A task whose workers kept disappearing (its job stalled past queue.max_stalled_count) ends `failed`
 * with `worker_lost`: the row would otherwise stay `running` with nobody to finish it. No lease is
 * known here, so it applies to whichever attempt holds the row now.
 */
export async function markLost(tx: Sql, taskId: string, reason: string): Promise<{ value: boolean; outboxId: string | null }> {
  const message = `the worker running this task was lost too often (${reason}); raise queue.max_stalled_count or check worker health`;
  const [row] = await tx<{ attempt: number; webhook_url: string | null }[]>`
    select attempt, webhook_url from tasks where id = ${taskId} and status in ('queued', 'running') for update`;
  if (!row) return { value: false, outboxId: null };
  const error = { code: 'worker_lost', message };
  const events = await appendTaskEvents(tx, taskId, row.attempt, [
    { type: 'status', payload: { status: 'failed', error } },
    { type: 'end', payload: { status: 'failed', error } },
  ]);
  await tx`
    update tasks set status = 'failed', error_code = 'worker_lost', error_message = ${message},
      attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object(
        'attempt', attempt, 'code', 'worker_lost', 'message', ${message}::text, 'at', now())),
      finished_at = now(), updated_at = now()
    where id = ${taskId}`;
  return terminalOutbox(tx, taskId, 'mark_lost', row.webhook_url, events, { status: 'failed', errorCode: 'worker_lost' });
}
