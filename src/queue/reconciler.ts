import type { Sql } from '../db/client.js';
import { listQueuedSince, markEnqueued } from '../db/tasks.js';
import type { Logger } from '../observability/logger.js';
import { startPeriodic } from '../util/periodic.js';
import { enqueueTask, type TaskQueue } from './task-queue.js';

/**
 * Re-adds the job of every `queued` row that has none (the API stored the row while Redis was away, or
 * crashed between the insert and the add). Adding is idempotent because the job id is the task id.
 */
export async function reconcileQueuedTasks(
  sql: Sql,
  queue: TaskQueue,
  logger: Logger,
  opts: { olderThanMs: number; limit: number },
): Promise<number> {
  const rows = await listQueuedSince(sql, opts.olderThanMs, opts.limit);
  let added = 0;
  for (const { id, priority } of rows) {
    const job = await queue.getJob(id);
    if (job) continue;
    await enqueueTask(queue, id, { priority: priority ?? undefined });
    await markEnqueued(sql, id);
    added++;
    logger.info({ task_id: id, action: 'reconciled' }, 'queued task had no job; enqueued it');
  }
  return added;
}

/** Runs the reconciler every `intervalMs` (errors are logged, never thrown). */
export function startReconciler(sql: Sql, queue: TaskQueue, logger: Logger, intervalMs: number): { stop(): void } {
  return startPeriodic(
    intervalMs,
    async () => void (await reconcileQueuedTasks(sql, queue, logger, { olderThanMs: Math.min(intervalMs, 5000), limit: 200 })),
    (err) => logger.debug({ err }, 'reconciler round failed (Redis or Postgres away?)'),
  );
}
