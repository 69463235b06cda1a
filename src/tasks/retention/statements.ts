import type postgres from 'postgres';
import { TERMINAL_STATUSES } from '../../domain/task-status.js';

/**
 * Days to keep for one kind (task rows or events): `days` for every role not in `byRole`. 0 keeps
 * forever, so a role whose override is 0 keeps its tasks even when the global value would prune them.
 */
export interface KindRetention {
  days: number;
  byRole: Record<string, number>;
}

/** A connection or pool that can run one statement (a reserved connection in the pruner). */
type Runner = postgres.Sql | postgres.ReservedSql | postgres.TransactionSql;

/** The shortest retention any role has (0 when none prunes): every candidate finished before that long ago. */
export function shortestDays(r: KindRetention): number {
  const positive = [r.days, ...Object.values(r.byRole)].filter((d) => d > 0);
  return positive.length > 0 ? Math.min(...positive) : 0;
}

// The overrides travel as JSON text (cast from text, so the driver does not encode it a second time).
// The owner's role picks the days: its override if it has one, else the global value; 0 (keep forever)
// becomes null, which no finished_at is older than. The role is read per candidate (a subquery, not a
// join), so the plan walks the finished_at index from its old end and stops at `batch` rows: a join let
// the planner gather and sort every expired row for each batch. The bound on the shortest retention any
// role has keeps the walk to the old end. The candidate rows are locked (FOR UPDATE of the task) so that
// a task resumed or re-queued between the scan and the delete is re-checked against the WHERE clause
// under its lock instead of being deleted as it changes; SKIP LOCKED leaves a task some transition holds
// to a later round. Event candidates are the tasks whose events are not yet gone (events_pruned, migration
// 0011), so no statement walks the emptied ones again.
const finishedPastRetention = (sql: Runner, r: KindRetention, batch: number, kind: 'tasks' | 'events') => sql`
  select t.id from tasks t
  where t.finished_at is not null
    and t.finished_at < now() - make_interval(days => ${shortestDays(r)}::int)
    and t.status = any(${TERMINAL_STATUSES as unknown as string[]}::text[])
    and t.finished_at < now() - make_interval(days => (
      select nullif(coalesce((${JSON.stringify(r.byRole)}::text::jsonb ->> u.role)::int, ${r.days}::int), 0) from users u where u.id = t.owner_id))
    ${kind === 'events' ? sql`and not t.events_pruned` : sql``}
  order by t.finished_at
  limit ${batch}
  for update of t skip locked`;

/** Deletes up to `batch` finished tasks past retention (the FKs cascade to everything stored for them); the count removed. */
export async function deleteExpiredTasks(sql: Runner, r: KindRetention, batch: number): Promise<number> {
  const result = await sql`delete from tasks where id in (${finishedPastRetention(sql, r, batch, 'tasks')})`;
  return result.count;
}

/**
 * One step of the event pruning, in its own short transaction: deletes up to `batch` events of up to
 * `batch` finished tasks past event retention, then marks those of the tasks that have none left.
 * Another step is due while events came back a full batch or tasks were marked.
 */
export async function deleteExpiredEvents(sql: postgres.Sql, r: KindRetention, batch: number): Promise<{ events: number; marked: number }> {
  return sql.begin(async (tx) => {
    await tx`set local plan_cache_mode = force_custom_plan`; // as the pruner's own connection does
    const candidates = (await tx<{ id: string }[]>`${finishedPastRetention(tx, r, batch, 'events')}`).map((c) => c.id);
    if (candidates.length === 0) return { events: 0, marked: 0 };
    const deleted = await tx`
      delete from task_events e
      using (select ev.task_id, ev.seq from task_events ev where ev.task_id = any(${candidates}::uuid[]) limit ${batch}) doomed
      where e.task_id = doomed.task_id and e.seq = doomed.seq`;
    const marked = await tx`
      update tasks t set events_pruned = true
      where t.id = any(${candidates}::uuid[]) and not exists (select 1 from task_events x where x.task_id = t.id)`;
    return { events: deleted.count, marked: marked.count };
  });
}
