import { z } from 'zod';
import type { Config } from '../../config/index.js';
import { taskRequestSchema } from './task-request.js';

/** A schedule's task: validated as POST /api/v1/tasks validates its body; the workspace is the schedule's, and a tick resumes nothing. */
export const scheduleTaskBody = (cfg: Config) => taskRequestSchema(cfg).omit({ workspace_id: true, resume_from: true });

const fields = (cfg: Config) => ({
  name: z.string().max(200).optional(),
  cron: z.string().min(1).max(200).describe('5 fields (minute hour day month weekday), or 6 with seconds first; e.g. "0 9 * * 1-5"'),
  timezone: z.string().min(1).max(100).optional().describe('IANA time zone name; UTC when absent'),
  task: scheduleTaskBody(cfg),
  enabled: z.boolean().optional().describe('false: paused (no ticks); true by default'),
});

export function createScheduleBody(cfg: Config) {
  return z.object({ workspace_id: z.string().uuid(), ...fields(cfg) }).strict();
}

/** Only the fields given change; `task` is replaced as a whole. */
export function updateScheduleBody(cfg: Config) {
  return z.object(fields(cfg)).partial().strict();
}
