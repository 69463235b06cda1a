import type { Redis } from 'ioredis';
import type { Sql } from '../db/client.js';
import { requestCancel } from '../db/task-control.js';
import { insertTaskEvents, nextEventSeq } from '../db/task-events.js';
import { publishControl } from '../events/control.js';
import { taskChannel, type PublishedEvent } from '../events/channels.js';
import type { Logger } from '../observability/logger.js';
import type { TaskQueue } from '../queue/task-queue.js';

export type CancelOutcome = 'cancelled' | 'requested' | 'already_finished' | 'missing';

export interface CancelDeps {
  sql: Sql;
  queue: TaskQueue;
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** Called once a task reached a terminal state here (webhook delivery). */
  onTerminal?: (taskId: string) => Promise<void>;
}

/**
 * A waiting task is cancelled at once (its job removed, its end event written); a running one gets a
 * message on the control channel so that whichever worker holds it stops the container. The row keeps
 * `cancel_requested_at`, so a worker that starts the task later (a retry) cancels it too.
 */
export async function cancelTask(d: CancelDeps, ownerId: string, taskId: string): Promise<CancelOutcome> {
  const res = await requestCancel(d.sql, ownerId, taskId);
  if (!res) return 'missing';
  if (!res.changed) return 'already_finished';
  if (res.status === 'cancelled') {
    await d.queue.remove(taskId).catch((err: unknown) => d.logger.debug({ err, task_id: taskId }, 'removing the job failed'));
    await writeEndEvents(d, taskId, res.attempt);
    await d.onTerminal?.(taskId);
    return 'cancelled';
  }
  await publishControl(d.redis, d.prefix, { type: 'cancel', taskId });
  return 'requested';
}

async function writeEndEvents(d: CancelDeps, taskId: string, attempt: number): Promise<void> {
  const seq = await nextEventSeq(d.sql, taskId);
  const error = { code: 'cancelled', message: 'task was cancelled before it started' };
  const events = [
    { seq, type: 'status', payload: { status: 'cancelled' } },
    { seq: seq + 1, type: 'end', payload: { status: 'cancelled', error } },
  ];
  await insertTaskEvents(d.sql, taskId, attempt, events);
  const pipeline = d.redis.pipeline();
  for (const e of events) {
    const msg: PublishedEvent = { ...e, attempt };
    pipeline.publish(taskChannel(d.prefix, taskId), JSON.stringify(msg));
  }
  await pipeline.exec().catch(() => {});
}
