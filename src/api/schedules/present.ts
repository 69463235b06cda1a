import type { ScheduleRow, ScheduleRunRow } from '../../db/schedules.js';
import { nextRuns } from './cron.js';

const NEXT_RUNS_SHOWN = 5;

export function scheduleJson(s: ScheduleRow, now = new Date()) {
  let next: string[] = [];
  // A line the config no longer accepts still shows; it just has no next runs to show.
  if (s.enabled) {
    try {
      next = nextRuns(s.cron, s.timezone, NEXT_RUNS_SHOWN, now).map((d) => d.toISOString());
    } catch {
      next = [];
    }
  }
  return {
    id: s.id,
    workspace_id: s.workspace_id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task,
    enabled: s.enabled,
    next_runs: next,
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
  };
}

export function scheduleRunJson(r: ScheduleRunRow) {
  return { tick_at: r.tick_at.toISOString(), status: r.status, task_id: r.task_id, reason: r.reason, created_at: r.created_at.toISOString() };
}
