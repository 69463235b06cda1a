import type { Rbac } from '../../auth/rbac.js';
import { permissionSetFor } from '../../auth/permissions.js';
import type { Config } from '../../config/index.js';
import type { Sql } from '../../db/client.js';
import { pruneScheduleRuns, recordTickOnce, type TickOutcome, type TickRecord } from '../../db/schedule-runs.js';
import { findScheduleForTick, type TickSchedule } from '../../db/schedules.js';
import { clearEnqueued, submitTask } from '../../db/task-submit.js';
import type { TaskRow } from '../../db/tasks.js';
import type { Logger } from '../../observability/logger.js';
import { removeScheduler, upsertScheduler, type ScheduleJobData, type ScheduleQueue } from '../../queue/schedule-queue.js';
import { enqueueTask, type TaskQueue } from '../../queue/task-queue.js';
import { checkWebhookUrl } from '../../tasks/webhook-url.js';
import { ApiError } from '../errors.js';
import { checkCaps, maxActiveTasks, taskOptions, taskRequestSchema, tooManyTasks } from '../routes/task-request.js';
import { firesAt } from './cron.js';

/** Runs this young are never pruned: a duplicate of their tick must still find them. */
const RUNS_MIN_AGE_MS = 24 * 3600_000;

export interface TickDeps {
  config: Config;
  sql: Sql;
  logger: Logger;
  queue: TaskQueue;
  schedules: ScheduleQueue;
  rbac: Pick<Rbac, 'permissionsFor'>;
}

/** What one tick did; 'ignored': no run is recorded (the schedule is gone, paused, or the tick is not one of its cron line). */
export type TickResult = TickRecord | { kind: 'ignored'; why: string };

/** The owner's caps, role and budget as they are now, applied to the schedule's task: a reason to skip, or the submission. */
async function planTask(d: TickDeps, s: TickSchedule) {
  if (s.owner_disabled) return { skip: 'the owner account is disabled' } as const;
  const permissions = permissionSetFor(await d.rbac.permissionsFor(s.owner_role));
  if (!permissions.has('task:create')) return { skip: `role ${s.owner_role} does not grant task:create` } as const;
  // Validated again as POST /api/v1/tasks would validate it now: the config's limits may have changed since.
  const parsed = taskRequestSchema(d.config).safeParse({ ...s.task, workspace_id: s.workspace_id });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { skip: `the task is no longer valid: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}` } as const;
  }
  const body = parsed.data;
  try {
    checkCaps(body, d.config, s.owner_role);
  } catch (err) {
    if (err instanceof ApiError) return { skip: err.message } as const;
    throw err;
  }
  const webhook = body.webhook_url ? checkWebhookUrl(body.webhook_url, d.config.webhooks) : null;
  if (webhook && !webhook.ok) return { skip: `webhook_url: ${webhook.message}` } as const;
  return {
    submission: {
      ownerId: s.owner_id,
      workspaceId: s.workspace_id,
      prompt: body.prompt,
      // push: true asks for a push (a workspace that cannot push then shows push.error); unset follows the
      // workspace's push.default, as a submission does.
      options: { ...taskOptions(body), ...(body.push ? { push: true } : {}) },
      metadata: body.metadata ?? null,
      webhookUrl: webhook?.ok ? webhook.url : null,
      maxActive: maxActiveTasks(s.owner_role, d.config),
      pushByDefault: body.push === undefined,
    },
  } as const;
}

/**
 * Handles one tick of a schedule: at most one task per (schedule, tick time), however many processes and
 * duplicated jobs handle it (schedule_runs, src/db/schedule-runs.ts). Postgres decides, not the scheduler:
 * a tick of a paused, deleted or changed schedule makes nothing, and the scheduler is put right.
 */
export async function handleTick(d: TickDeps, data: ScheduleJobData, tickMs: number): Promise<TickResult> {
  const s = await findScheduleForTick(d.sql, data.scheduleId);
  if (!s || s.owner_deleted || s.workspace_deleted) {
    await removeScheduler(d.schedules, data.scheduleId);
    return { kind: 'ignored', why: 'schedule gone' };
  }
  if (!s.enabled) {
    await removeScheduler(d.schedules, s.id);
    return { kind: 'ignored', why: 'paused' };
  }
  if (data.version !== s.version) {
    // A scheduler of an older read of the row: remade from the row. Its tick still counts when the current cron line fires then.
    if (data.version < s.version) await upsertScheduler(d.schedules, { scheduleId: s.id, version: s.version, cron: s.cron, timezone: s.timezone });
    if (!firesAt(s.cron, s.timezone, tickMs)) return { kind: 'ignored', why: 'not a fire time of the current cron line' };
  }
  const plan = await planTask(d, s);
  let created: TaskRow | null = null;
  const record = await recordTickOnce(d.sql, s.id, new Date(tickMs), async (tx): Promise<TickOutcome> => {
    if ('skip' in plan) return { status: 'skipped', reason: plan.skip as string };
    const res = await submitTask(tx, plan.submission);
    if (res.kind === 'no_workspace') return { status: 'skipped', reason: 'the workspace was deleted' };
    if (res.kind === 'refused') return { status: 'skipped', reason: tooManyTasks(res.active, s.owner_role, d.config).message };
    created = res.task;
    return { status: 'created', taskId: res.task.id };
  });
  const task = created as TaskRow | null;
  if (record.kind === 'recorded') await pruneScheduleRuns(d.sql, s.id, d.config.schedules.runs_kept, RUNS_MIN_AGE_MS);
  if (record.kind === 'recorded' && task) {
    try {
      await enqueueTask(d.queue, task.id, { priority: task.options.priority });
    } catch (err) {
      // Stored and recorded: the reconciler adds the job when Redis is back.
      d.logger.warn({ err, task_id: task.id, schedule_id: s.id, action: 'enqueue_failed' }, 'queue unavailable; scheduled task left for the reconciler');
      await clearEnqueued(d.sql, task.id);
    }
  }
  return record;
}
