import type { Sql } from './client.js';

export type TickOutcome = { status: 'created'; taskId: string } | { status: 'skipped'; reason: string };

export type TickRecord = { kind: 'recorded'; outcome: TickOutcome } | { kind: 'duplicate' } | { kind: 'gone' };

/**
 * Keeps a schedule's latest `keep` runs; older ones go, but never one younger than `minAgeMs`: a run is also
 * what makes a late duplicate of its tick a no-op, so every tick of that window stays recorded.
 */
export async function pruneScheduleRuns(sql: Sql, scheduleId: string, keep: number, minAgeMs: number): Promise<number> {
  const result = await sql`
    delete from schedule_runs where schedule_id = ${scheduleId}
      and tick_at < now() - make_interval(secs => ${minAgeMs / 1000})
      and tick_at < (select tick_at from schedule_runs where schedule_id = ${scheduleId} order by tick_at desc offset ${keep - 1} limit 1)`;
  return result.count;
}

/**
 * Runs `handle` at most once per (schedule, tick time), in one transaction with the tick's row: the row is
 * claimed first (a second claim of the same tick, from a duplicated scheduler job or another process, waits
 * for the first and then finds it taken), `handle` creates the task on the same transaction, and the row
 * records what it did. Nothing of a tick that fails is kept, so its retry starts over. 'gone': the
 * schedule was deleted meanwhile.
 */
export async function recordTickOnce(sql: Sql, scheduleId: string, tickAt: Date, handle: (tx: Sql) => Promise<TickOutcome>): Promise<TickRecord> {
  try {
    return await sql.begin(async (tx) => {
      const [claimed] = await tx`
        insert into schedule_runs (schedule_id, tick_at, status) values (${scheduleId}, ${tickAt}, 'skipped')
        on conflict (schedule_id, tick_at) do nothing returning 1`;
      if (!claimed) return { kind: 'duplicate' } as const;
      // The submission statement takes a plain Sql; a transaction runs the same statements.
      const outcome = await handle(tx as unknown as Sql);
      await tx`
        update schedule_runs set status = ${outcome.status}, task_id = ${outcome.status === 'created' ? outcome.taskId : null},
          reason = ${outcome.status === 'skipped' ? outcome.reason : null}
        where schedule_id = ${scheduleId} and tick_at = ${tickAt}`;
      return { kind: 'recorded', outcome } as const;
    });
  } catch (err) {
    // 23503: the schedule row went between the read and the claim.
    if ((err as { code?: string }).code === '23503') return { kind: 'gone' };
    throw err;
  }
}
