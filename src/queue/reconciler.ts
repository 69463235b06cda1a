import type { Sql } from '../db/client.js';
import type { KeysetPosition } from '../db/keyset.js';
import { listQueuedPage, markEnqueued, type QueuedRow } from '../db/tasks.js';
import type { Logger } from '../observability/logger.js';
import { startPeriodic } from '../util/periodic.js';
import { enqueueTask, type TaskQueue } from './task-queue.js';

/** How many job lookups of one page go to Redis at once (ioredis pipelines them on its connection). */
const LOOKUPS_IN_FLIGHT = 50;

/** Where the sweep stands in the backlog: after this row, or at its start. */
export interface SweepPosition {
  after?: KeysetPosition;
}

/**
 * Re-adds the job of every `queued` row that has none (the API stored the row while Redis was away, or
 * crashed between the insert and the add, or Redis lost its data). Adding is idempotent because the job id
 * is the task id. One call looks at one page after `position` and moves it on, back to the start after the
 * last page, so successive rounds cover the whole backlog at a bounded cost each.
 */
export async function reconcileQueuedTasks(
  sql: Sql,
  queue: TaskQueue,
  logger: Logger,
  opts: { olderThanMs: number; limit: number; position?: SweepPosition },
): Promise<number> {
  const position = opts.position ?? {};
  const rows = await listQueuedPage(sql, { olderThanMs: opts.olderThanMs, limit: opts.limit, after: position.after });
  const last = rows[rows.length - 1];
  position.after = rows.length === opts.limit && last ? { createdAt: last.cursor_created_at, id: last.id } : undefined;
  let added = 0;
  for (let i = 0; i < rows.length; i += LOOKUPS_IN_FLIGHT) {
    const chunk = rows.slice(i, i + LOOKUPS_IN_FLIGHT);
    const jobs = await Promise.all(chunk.map((row) => queue.getJob(row.id)));
    const missing = chunk.filter((_, j) => !jobs[j]);
    for (const row of missing) {
      await enqueueMissing(sql, queue, row);
      added++;
      logger.info({ task_id: row.id, action: 'reconciled' }, 'queued task had no job; enqueued it');
    }
  }
  return added;
}

async function enqueueMissing(sql: Sql, queue: TaskQueue, row: QueuedRow): Promise<void> {
  await enqueueTask(queue, row.id, { priority: row.priority ?? undefined });
  await markEnqueued(sql, row.id);
}

/** Runs the reconciler every `intervalMs`, a page of the backlog per round (errors are logged, never thrown). */
export function startReconciler(sql: Sql, queue: TaskQueue, logger: Logger, intervalMs: number): { stop(): void } {
  const position: SweepPosition = {};
  return startPeriodic(
    intervalMs,
    async () => void (await reconcileQueuedTasks(sql, queue, logger, { olderThanMs: Math.min(intervalMs, 5000), limit: 200, position })),
    (err) => logger.debug({ err }, 'reconciler round failed (Redis or Postgres away?)'),
  );
}
