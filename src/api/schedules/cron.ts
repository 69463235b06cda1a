import cronParser from 'cron-parser';

/** Fire times of a cron line looked at to judge its interval and shown as next runs. */
const LOOKAHEAD = 5;

/** Whether the runtime knows the IANA time zone (an unknown one throws a RangeError). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The next `count` fire times after `from`, in BullMQ's own cron reading (5 fields, or 6 with seconds first). */
export function nextRuns(cron: string, timezone: string, count = LOOKAHEAD, from = new Date()): Date[] {
  const it = cronParser.parseExpression(cron, { tz: timezone, currentDate: from });
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().toDate());
  return out;
}

/** Whether `ms` is a fire time of the cron line (a tick made by an older scheduler of the schedule may not be). */
export function firesAt(cron: string, timezone: string, ms: number): boolean {
  try {
    return nextRuns(cron, timezone, 1, new Date(ms - 1))[0]?.getTime() === ms;
  } catch {
    return false;
  }
}

/**
 * What is wrong with a cron line and time zone, as one sentence for a 400, or null. A line must parse,
 * fire at all, and not fire more often than `minIntervalMs`.
 */
export function cronProblem(cron: string, timezone: string, minIntervalMs: number): string | null {
  if (!isTimeZone(timezone)) return `timezone "${timezone}" is not an IANA time zone name (e.g. UTC, Europe/Berlin, Asia/Seoul)`;
  const fields = cron.trim().split(/\s+/);
  if (!cron.trim().startsWith('@') && (fields.length < 5 || fields.length > 6)) {
    return `cron "${cron}" must have 5 fields (minute hour day month weekday) or 6 (seconds first)`;
  }
  let runs: Date[];
  try {
    runs = nextRuns(cron, timezone);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return `cron "${cron}" is not a valid cron line (${why}), or it never fires`;
  }
  for (let i = 1; i < runs.length; i++) {
    const gap = (runs[i] as Date).getTime() - (runs[i - 1] as Date).getTime();
    if (gap < minIntervalMs) return `cron "${cron}" fires every ${gap / 1000} s, more often than schedules.min_interval (${minIntervalMs / 1000} s)`;
  }
  return null;
}
