import type { Sql } from '../../db/client.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { startPeriodic } from '../../util/periodic.js';
import {
  activeTasks,
  deleteEmptyUser,
  deleteEmptyWorkspace,
  deletedUsers,
  deletedWorkspaces,
  deleteFinishedTasks,
  deleteSchedules,
  type PurgeScope,
} from './statements.js';

/**
 * Session advisory-lock key held for a whole purge round ("aicd" in ASCII), so one purger runs at a time
 * across every worker on the database; the others skip their round rather than wait.
 */
export const PURGE_LOCK_KEY = 0x61696364;

/** Deleted workspaces and users one round looks at; the rest wait for the next round. */
const OWNERS_PER_ROUND = 100;

export type PurgeRound =
  | { skipped: true }
  | { skipped: false; tasks: number; workspaces: number; users: number; cancelled: number; schedules: number; statements: number };

export interface DeletionPurgerOptions {
  sql: Sql;
  /** Rows one delete statement removes (retention.batch_size). */
  batchSize: number;
  /** Cancels a task still queued or running in a deleted scope (the lifecycle's cancel). */
  cancel: (ownerId: string, taskId: string) => Promise<unknown>;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * One purge round. For every deleted workspace, then every deleted user: cancel what is still queued or
 * running (a running task stops at its worker and is removed by a later round), delete the finished
 * tasks in statements of `batchSize` (each its own short transaction, so no lock is held long), and
 * remove the row once nothing of it is left.
 */
export async function purgeRound(opts: DeletionPurgerOptions): Promise<PurgeRound> {
  const { sql, batchSize, logger, metrics } = opts;
  const conn = await sql.reserve();
  try {
    const [lock] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${PURGE_LOCK_KEY}::bigint) as locked`;
    if (lock?.locked !== true) return { skipped: true };
    try {
      const totals = { tasks: 0, workspaces: 0, users: 0, cancelled: 0, schedules: 0, statements: 0 };
      const purgeScope = async (scope: PurgeScope): Promise<void> => {
        totals.schedules += await deleteSchedules(conn, scope);
        for (const task of await activeTasks(conn, scope, batchSize)) {
          await opts.cancel(task.owner_id, task.id);
          totals.cancelled++;
        }
        for (;;) {
          const n = await deleteFinishedTasks(conn, scope, batchSize);
          totals.statements++;
          totals.tasks += n;
          if (n < batchSize) return;
        }
      };
      for (const id of await deletedWorkspaces(conn, OWNERS_PER_ROUND)) {
        await purgeScope({ kind: 'workspace', id });
        if (await deleteEmptyWorkspace(conn, id)) totals.workspaces++;
      }
      for (const id of await deletedUsers(conn, OWNERS_PER_ROUND)) {
        await purgeScope({ kind: 'user', id });
        if (await deleteEmptyUser(conn, id)) totals.users++;
      }
      if (totals.tasks > 0) metrics?.tasks.deletionPurged.inc({ kind: 'tasks' }, totals.tasks);
      if (totals.workspaces > 0) metrics?.tasks.deletionPurged.inc({ kind: 'workspaces' }, totals.workspaces);
      if (totals.users > 0) metrics?.tasks.deletionPurged.inc({ kind: 'users' }, totals.users);
      if (totals.tasks + totals.workspaces + totals.users + totals.cancelled + totals.schedules > 0) {
        logger.info({ action: 'deletion_purged', ...totals }, 'purged what deleted users and workspaces left');
      }
      return { skipped: false, ...totals };
    } finally {
      // The server frees a session lock when the connection closes, which is the usual cause of a failure here.
      await conn`select pg_advisory_unlock(${PURGE_LOCK_KEY}::bigint)`.catch((err: unknown) => logger.warn({ err }, 'releasing the purge lock failed'));
    }
  } finally {
    conn.release();
  }
}

/** Runs a purge round every `intervalMs` (retention.purge_interval). A failed round is logged; the next runs as usual. */
export function startDeletionPurger(opts: DeletionPurgerOptions & { intervalMs: number }): { stop(): void } {
  return startPeriodic(
    opts.intervalMs,
    async () => void (await purgeRound(opts)),
    (err) => opts.logger.warn({ err, action: 'deletion_purge_failed' }, 'purge round failed (Postgres away?)'),
  );
}
