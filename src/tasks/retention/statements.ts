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
type Runner = postgres.Sql | postgres.ReservedSql;

// The overrides travel as JSON text (cast from text, so the driver does not encode it a second time).
// The owner's role picks the days: its override if it has one, else the global value. The candidate
// rows are locked (FOR UPDATE of the task) so that a task resumed or re-queued between the scan and the
// delete is re-checked against the WHERE clause under its lock instead of being deleted as it changes;
// SKIP LOCKED leaves a task some transition holds to a later round.
const finishedPastRetention = (sql: Runner, r: KindRetention, batch: number, kind: 'tasks' | 'events') => sql`
  select t.id from tasks t
  join users u on u.id = t.owner_id
  left join lateral (select (${JSON.stringify(r.byRole)}::text::jsonb ->> u.role)::int as days) o on true
  where t.finished_at is not null
    and t.status = any(${TERMINAL_STATUSES as unknown as string[]}::text[])
    and coalesce(o.days, ${r.days}::int) > 0
    and t.finished_at < now() - make_interval(days => coalesce(o.days, ${r.days}::int))
    ${kind === 'events' ? sql`and exists (select 1 from task_events x where x.task_id = t.id)` : sql``}
  order by t.finished_at
  limit ${batch}
  ${kind === 'tasks' ? sql`for update of t skip locked` : sql`for share of t skip locked`}`;

/** Deletes up to `batch` finished tasks past retention (the FKs cascade to everything stored for them); the count removed. */
export async function deleteExpiredTasks(sql: Runner, r: KindRetention, batch: number): Promise<number> {
  const result = await sql`delete from tasks where id in (${finishedPastRetention(sql, r, batch, 'tasks')})`;
  return result.count;
}

/**
 * Deletes up to `batch` events of finished tasks past event retention; the count removed. Only tasks
 * that still have events are candidates, so a batch comes back short only when no such event is left.
 */
export async function deleteExpiredEvents(sql: Runner, r: KindRetention, batch: number): Promise<number> {
  const result = await sql`
    delete from task_events e
    using (
      select ev.task_id, ev.seq from task_events ev
      where ev.task_id in (${finishedPastRetention(sql, r, batch, 'events')})
      limit ${batch}
    ) doomed
    where e.task_id = doomed.task_id and e.seq = doomed.seq`;
  return result.count;
}
