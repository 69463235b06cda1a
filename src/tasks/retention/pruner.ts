import type { Sql } from '../../db/client.js';
import { roleRetention, retentionConfigured, type RetentionConfig } from '../../config/sections/retention.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { startPeriodic } from '../../util/periodic.js';
import { deleteExpiredEvents, deleteExpiredTasks, type KindRetention } from './statements.js';

/**
 * Session advisory-lock key held for a whole pruning round ("aicr" in ASCII), so one pruner runs at a
 * time across every worker on the database; the others skip their round rather than wait.
 */
export const RETENTION_LOCK_KEY = 0x61696372;

/** Rows removed in one round past which the round refreshes the tables' statistics. */
const ANALYZE_AFTER_ROWS = 50_000;

export type PruneRound = { skipped: true } | { skipped: false; tasks: number; events: number; statements: number };

export interface RetentionPrunerOptions {
  sql: Sql;
  retention: RetentionConfig;
  logger: Logger;
  metrics?: Metrics;
}

/** The days of one kind per role, for the statements: the global value plus every role that overrides it. */
function kindRetention(config: RetentionConfig, kind: 'task_days' | 'event_days'): KindRetention {
  const byRole = Object.fromEntries(Object.keys(config.roles).map((role) => [role, roleRetention(config, role)[kind]]));
  return { days: config[kind], byRole };
}

const hasAny = (r: KindRetention) => r.days > 0 || Object.values(r.byRole).some((d) => d > 0);

/**
 * One pruning round: finished tasks past task retention, then events of finished tasks past event
 * retention, each in statements of `batch_size` rows (every statement its own short transaction, so
 * no lock is held long), repeated until a statement removes fewer rows than that.
 */
export async function pruneRound(opts: RetentionPrunerOptions): Promise<PruneRound> {
  const { sql, retention, logger, metrics } = opts;
  const tasks = kindRetention(retention, 'task_days');
  const events = kindRetention(retention, 'event_days');
  const conn = await sql.reserve();
  try {
    const [lock] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${RETENTION_LOCK_KEY}::bigint) as locked`;
    if (lock?.locked !== true) return { skipped: true };
    try {
      // The same delete runs many times a round; a generic plan (blind to how old the cutoff is) may read
      // every expired row and sort it for each batch. Plan each statement with its values instead.
      await conn`set plan_cache_mode = force_custom_plan`;
      let statements = 0;
      let removedTasks = 0;
      if (hasAny(tasks)) {
        for (;;) {
          const n = await deleteExpiredTasks(conn, tasks, retention.batch_size);
          statements++;
          removedTasks += n;
          if (n < retention.batch_size) break;
        }
      }
      if (removedTasks > 0) metrics?.tasks.retentionPruned.inc({ kind: 'tasks' }, removedTasks);
      let removedEvents = 0;
      if (hasAny(events)) {
        for (;;) {
          const step = await deleteExpiredEvents(sql, events, retention.batch_size);
          statements++;
          removedEvents += step.events;
          if (step.events < retention.batch_size && step.marked === 0) break;
        }
      }
      if (removedEvents > 0) metrics?.tasks.retentionPruned.inc({ kind: 'events' }, removedEvents);
      if (removedTasks + removedEvents > 0) {
        logger.info({ action: 'retention_pruned', tasks: removedTasks, events: removedEvents, statements }, 'retention removed finished tasks and events');
      }
      // A round that removed much leaves the planner's row counts behind until autovacuum catches up, and
      // plans chosen on stale counts are what made history cost time before; ANALYZE samples, so it is cheap.
      if (removedTasks + removedEvents >= ANALYZE_AFTER_ROWS) await conn`analyze tasks, task_events`;
      return { skipped: false, tasks: removedTasks, events: removedEvents, statements };
    } finally {
      // The server frees a session lock when the connection closes, which is the usual cause of a failure here.
      await conn`reset plan_cache_mode`.catch(() => {});
      await conn`select pg_advisory_unlock(${RETENTION_LOCK_KEY}::bigint)`.catch((err: unknown) => logger.warn({ err }, 'releasing the retention lock failed'));
    }
  } finally {
    conn.release();
  }
}

/**
 * Runs a pruning round every retention.interval, or returns null when no retention is configured (the
 * default keeps everything, so an upgrade deletes nothing). A failed round is logged; the next runs as usual.
 */
export function startRetentionPruner(opts: RetentionPrunerOptions): { stop(): void } | null {
  if (!retentionConfigured(opts.retention)) return null;
  return startPeriodic(
    opts.retention.interval,
    async () => void (await pruneRound(opts)),
    (err) => opts.logger.warn({ err, action: 'retention_failed' }, 'retention round failed (Postgres away?)'),
  );
}
