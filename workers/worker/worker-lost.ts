import type { Sql } from '../../src/db/client.js';
import { insertTaskEvents, nextEventSeq } from '../../src/db/task-events.js';
import type { Logger } from '../../src/observability/logger.js';

/** BullMQ's reason when a job stalled more often than queue.max_stalled_count allows. */
export const STALLED_LIMIT_REASON = /stalled more than allowable limit/;

/**
 * A job whose workers kept disappearing (stalled past the limit) ends `failed` with `worker_lost`: the row
 * would otherwise stay `running` with nobody to finish it. Fenced by the attempt the row holds now.
 */
export async function markWorkerLost(sql: Sql, taskId: string, reason: string, logger: Logger): Promise<boolean> {
  const message = `the worker running this task was lost too often (${reason}); raise queue.max_stalled_count or check worker health`;
  const [row] = await sql<{ attempt: number }[]>`
    update tasks set status = 'failed', error_code = 'worker_lost', error_message = ${message},
      attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object(
        'attempt', attempt, 'code', 'worker_lost', 'message', ${message}::text, 'at', now())),
      finished_at = now(), updated_at = now()
    where id = ${taskId} and status in ('queued', 'running')
    returning attempt`;
  if (!row) return false;
  const seq = await nextEventSeq(sql, taskId);
  const error = { code: 'worker_lost', message };
  await insertTaskEvents(sql, taskId, row.attempt, [
    { seq, type: 'status', payload: { status: 'failed', error } },
    { seq: seq + 1, type: 'end', payload: { status: 'failed', error } },
  ]);
  logger.warn({ action: 'worker_lost', task_id: taskId }, 'task failed: its workers were lost too often');
  return true;
}
