import { z } from 'zod';
import { duration } from '../duration.js';
import { fromJsonText, ROLE_NAME, ROLE_NAME_MESSAGE } from '../fields.js';

// Retention of finished tasks: how long a task row (with its diff, artifacts, outbox rows, webhook
// deliveries and idempotency keys) and, separately, its stream events are kept after it finished.
// 0 keeps forever, which is the default so that upgrading deletes nothing. Every key is documented in
// configs/config.example.yml.

const days = (key: string) => z.coerce.number().int(`${key} must be a whole number of days`).min(0, `${key} must be 0 (keep forever) or more`);

const roleRetentionPatch = z
  .object({
    task_days: days('retention.roles.<role>.task_days').optional(),
    event_days: days('retention.roles.<role>.event_days').optional(),
  })
  .strict();

export const retentionSection = z
  .object({
    /** Days a finished task row is kept after finished_at; deleting it removes everything stored for the task. */
    task_days: days('retention.task_days').default(0),
    /** Days a finished task's events are kept after finished_at; the row, result and diff stay. */
    event_days: days('retention.event_days').default(0),
    /** How often a worker runs a pruning round. */
    interval: duration('10m'),
    /**
     * How often a worker purges what deleted users and workspaces left (their tasks and events, then the
     * rows). Runs whatever the retention days say: a deletion is always carried out.
     */
    purge_interval: duration('30s'),
    /** Rows one delete statement removes; a round repeats statements until one comes back short. */
    batch_size: z.coerce.number().int().min(1, 'retention.batch_size must be at least 1').max(100_000, 'retention.batch_size must be at most 100000').default(1000),
    /** Per-role overrides, decided by the task owner's role; a key left out falls back to the global value. */
    roles: z.preprocess(fromJsonText, z.record(z.string().regex(ROLE_NAME, ROLE_NAME_MESSAGE), roleRetentionPatch)).default({}),
  })
  .strict()
  .default({});

export type RetentionConfig = z.output<typeof retentionSection>;

/** Days each kind is kept for one role: its override where given, else the global value (0 = forever). */
export function roleRetention(config: RetentionConfig, role: string): { task_days: number; event_days: number } {
  const own = config.roles[role];
  return { task_days: own?.task_days ?? config.task_days, event_days: own?.event_days ?? config.event_days };
}

/** Whether any role has anything to prune; a worker starts no pruner otherwise. */
export function retentionConfigured(config: RetentionConfig): boolean {
  const values = [config.task_days, config.event_days, ...Object.values(config.roles).flatMap((r) => [r.task_days ?? 0, r.event_days ?? 0])];
  return values.some((v) => v > 0);
}
