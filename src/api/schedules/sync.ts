import type { Sql } from '../../db/client.js';
import { listEnabledSchedules, type SchedulerRow } from '../../db/schedules.js';
import { removeScheduler, schedulerId, upsertScheduler, type ScheduleQueue } from '../../queue/schedule-queue.js';

const PAGE = 500;

export interface SyncResult {
  made: number;
  removed: number;
}

/**
 * Puts the job schedulers in Redis right from the rows in Postgres: every enabled schedule has one with its
 * cron line, time zone and version, and no other schedule has one (a Redis that lost its keys, a change
 * whose scheduler update failed, a deleted workspace). A scheduler of a newer version than the row read here
 * is left alone: it was made from a later read.
 */
export async function syncSchedulers(sql: Sql, queue: ScheduleQueue): Promise<SyncResult> {
  const existing = new Map<string, { version: number; pattern: string | undefined; tz: string | undefined }>();
  for (const s of await queue.getJobSchedulers(0, -1, true)) {
    const version = (s.template?.data as { version?: unknown } | undefined)?.version;
    existing.set(s.key, { version: typeof version === 'number' ? version : 0, pattern: s.pattern ?? undefined, tz: s.tz ?? undefined });
  }
  const result: SyncResult = { made: 0, removed: 0 };
  const wanted = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const page: SchedulerRow[] = await listEnabledSchedules(sql, after, PAGE);
    for (const row of page) {
      const id = schedulerId(row.id);
      wanted.add(id);
      const have = existing.get(id);
      const current = have && (have.version > row.version || (have.version === row.version && have.pattern === row.cron && have.tz === row.timezone));
      if (current) continue;
      await upsertScheduler(queue, { scheduleId: row.id, version: row.version, cron: row.cron, timezone: row.timezone });
      result.made++;
    }
    if (page.length < PAGE) break;
    after = (page[page.length - 1] as SchedulerRow).id;
  }
  for (const key of existing.keys()) {
    if (wanted.has(key) || !key.startsWith('schedule-')) continue;
    await removeScheduler(queue, key.slice('schedule-'.length));
    result.removed++;
  }
  return result;
}
