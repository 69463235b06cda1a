import { z } from 'zod';
import { taskOptionsSchema } from './schemas.js';

const timestamp = z.string().datetime({ offset: true });

/** The task a schedule makes at each tick: the POST /api/v1/tasks body without workspace_id (and without resume_from). */
export const scheduleTaskSchema = taskOptionsSchema
  .omit({ resume_from: true })
  .extend({
    prompt: z.string(),
    webhook_url: z.string().optional(),
    metadata: z.record(z.unknown()).optional(),
  })
  .strict();

export const scheduleSchema = z
  .object({
    id: z.string().uuid(),
    workspace_id: z.string().uuid(),
    name: z.string(),
    cron: z.string().describe('5 fields (minute hour day month weekday), or 6 with seconds first'),
    timezone: z.string().describe('IANA time zone the cron line is read in'),
    task: scheduleTaskSchema,
    enabled: z.boolean(),
    next_runs: z.array(timestamp).describe('The next fire times (empty while paused)'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .strict();

export const scheduleRunSchema = z
  .object({
    tick_at: timestamp.describe('The fire time this run belongs to (one run per fire time)'),
    status: z.enum(['created', 'skipped']),
    task_id: z.string().uuid().nullable().describe('The task it made (null when skipped, or the task was since deleted)'),
    reason: z.string().nullable().describe('Why it was skipped: the cap, role or budget limit that refused it'),
    created_at: timestamp,
  })
  .strict();

export const scheduleDetailSchema = scheduleSchema.extend({ runs: z.array(scheduleRunSchema).describe('The latest runs, newest first') }).strict();
