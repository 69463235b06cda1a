import type { Sql } from './client.js';

/**
 * The one fencing rule of a task's writes. Every claim bumps `tasks.attempt`, and the number it returns is
 * that claim's lease: a write for a running task applies only while the row is still `running` under the
 * writer's lease. A superseded attempt (its worker was presumed lost and the task claimed again) or one
 * whose task has already ended changes nothing. The lease is not BullMQ's `attemptsMade`, which counts
 * deliveries of the job (a released attempt is redelivered without spending one).
 */
export interface TaskLease {
  readonly taskId: string;
  readonly lease: number;
}

/** The SQL condition of the rule, on a `tasks` row. */
export const leaseHeld = (sql: Sql, l: TaskLease) => sql`id = ${l.taskId} and attempt = ${l.lease} and status = 'running'`;
