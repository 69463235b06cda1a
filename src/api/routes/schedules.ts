import { z } from 'zod';
import { deleteSchedule, findSchedule, insertSchedule, listScheduleRuns, listSchedules, updateSchedule, type ScheduleRow } from '../../db/schedules.js';
import { removeScheduler, upsertScheduler } from '../../queue/schedule-queue.js';
import type { ApiResources } from '../../resources.js';
import { checkWebhookUrl } from '../../tasks/webhook-url.js';
import { badRequest, notFound, unprocessable } from '../errors.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { scheduleDetailSchema, scheduleSchema } from '../openapi/schedule-schemas.js';
import { listOf } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { cronProblem } from '../schedules/cron.js';
import { scheduleJson, scheduleRunJson } from '../schedules/present.js';
import { uuidParam } from './params.js';
import { createScheduleBody, scheduleTaskBody, updateScheduleBody } from './schedule-request.js';
import { checkCaps } from './task-request.js';

const PATH = '/api/v1/schedules';
const RUNS_SHOWN = 20;

const listQuery = z
  .object({
    workspace_id: z.string().uuid().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export function scheduleRoutes(r: ApiResources): RouteDef[] {
  const cfg = r.config;
  const createBody = createScheduleBody(cfg);
  const updateBody = updateScheduleBody(cfg);
  const tag = 'schedules';
  // Schedules make tasks: managing one takes task:create, reading one task:read:own.
  const write = need('task:create');
  const read = need('task:read:own');

  const checkCron = (cron: string, timezone: string) => {
    const problem = cronProblem(cron, timezone, cfg.schedules.min_interval);
    if (problem) throw badRequest(problem);
  };
  // The caps and the webhook address as POST /api/v1/tasks judges them now; every tick judges them again.
  const checkTask = (task: z.infer<ReturnType<typeof scheduleTaskBody>>, workspaceId: string, role: string | undefined) => {
    checkCaps({ ...task, workspace_id: workspaceId }, cfg, role);
    const url = task.webhook_url;
    if (typeof url === 'string') {
      const verdict = checkWebhookUrl(url, cfg.webhooks);
      if (!verdict.ok) throw unprocessable(`task.webhook_url: ${verdict.message}`);
    }
  };
  // Postgres has the change; the scheduler follows it. When Redis is away the sync puts it right later, and a
  // tick of a paused or deleted schedule makes nothing in the meantime (the tick reads the row).
  const follow = async (row: ScheduleRow | { id: string; removed: true }) => {
    try {
      if ('removed' in row || !row.enabled) await removeScheduler(r.schedules, row.id);
      else await upsertScheduler(r.schedules, { scheduleId: row.id, version: row.version, cron: row.cron, timezone: row.timezone });
    } catch (e) {
      r.logger.warn({ err: e, schedule_id: row.id, action: 'scheduler_update_failed' }, 'could not update the job scheduler; the schedule sync will');
    }
  };
  const owned = async (ownerId: string, id: string) => {
    const row = await findSchedule(r.sql, ownerId, id);
    if (!row) throw notFound('schedule');
    return row;
  };

  return [
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Create a schedule: a cron line that submits a task at each fire time',
        tag,
        access: write,
        body: createBody,
        responses: [
          ok(scheduleSchema, 'Created', 201),
          err(400, 'A cron line or time zone that is not valid, never fires, or fires more often than schedules.min_interval'),
          err(404, "The workspace does not exist or is another tenant's"),
          err(422, 'A task value above a configured cap, or too many schedules (schedules.max_per_user)'),
        ],
      },
      async (c, input) => {
        const principal = c.get('principal');
        const body = await input.body();
        const timezone = body.timezone ?? 'UTC';
        checkCron(body.cron, timezone);
        checkTask(body.task, body.workspace_id, principal.role);
        const row = await insertSchedule(r.sql, {
          ownerId: principal.userId,
          workspaceId: body.workspace_id,
          name: body.name ?? '',
          cron: body.cron.trim(),
          timezone,
          task: body.task,
          enabled: body.enabled ?? true,
          maxPerUser: cfg.schedules.max_per_user,
        });
        if (row === 'no_workspace') throw notFound('workspace');
        if (row === 'too_many') throw unprocessable(`you have ${cfg.schedules.max_per_user} schedules, the most one user may have (schedules.max_per_user): delete one first`);
        await follow(row);
        r.logger.info({ action: 'schedule_created', schedule_id: row.id, workspace_id: row.workspace_id, user_id: principal.userId }, 'schedule created');
        return c.json(scheduleJson(row), 201);
      },
    ),
    defineRoute(
      { method: 'GET', path: PATH, summary: 'List own schedules, newest first', tag, access: read, query: listQuery, responses: [ok(listOf(scheduleSchema))] },
      async (c, input) => {
        const q = input.query();
        const rows = await listSchedules(r.sql, c.get('principal').userId, { workspaceId: q.workspace_id, limit: q.limit });
        const now = new Date();
        return c.json({ items: rows.map((s) => scheduleJson(s, now)) });
      },
    ),
    defineRoute(
      { method: 'GET', path: `${PATH}/:id`, summary: 'Get a schedule with its next fire times and latest runs', tag, access: read, responses: [ok(scheduleDetailSchema)] },
      async (c) => {
        const row = await owned(c.get('principal').userId, uuidParam(c, 'schedule'));
        const runs = await listScheduleRuns(r.sql, row.id, RUNS_SHOWN);
        return c.json({ ...scheduleJson(row), runs: runs.map(scheduleRunJson) });
      },
    ),
    defineRoute(
      {
        method: 'PATCH',
        path: `${PATH}/:id`,
        summary: 'Change a schedule; enabled: false pauses it, true resumes it',
        tag,
        access: write,
        body: updateBody,
        responses: [ok(scheduleSchema), err(400, 'A cron line or time zone that is not valid'), err(422, 'A task value above a configured cap')],
      },
      async (c, input) => {
        const principal = c.get('principal');
        const id = uuidParam(c, 'schedule');
        const current = await owned(principal.userId, id);
        const body = await input.body();
        if (body.cron !== undefined || body.timezone !== undefined) checkCron(body.cron ?? current.cron, body.timezone ?? current.timezone);
        if (body.task) checkTask(body.task, current.workspace_id, principal.role);
        const row = await updateSchedule(r.sql, principal.userId, id, {
          name: body.name,
          cron: body.cron?.trim(),
          timezone: body.timezone,
          task: body.task,
          enabled: body.enabled,
        });
        if (!row) throw notFound('schedule');
        await follow(row);
        r.logger.info({ action: 'schedule_updated', schedule_id: row.id, enabled: row.enabled, user_id: principal.userId }, 'schedule updated');
        return c.json(scheduleJson(row));
      },
    ),
    defineRoute(
      { method: 'DELETE', path: `${PATH}/:id`, summary: 'Delete a schedule (the tasks it made stay)', tag, access: write, responses: [noContent('Deleted')] },
      async (c) => {
        const principal = c.get('principal');
        const id = uuidParam(c, 'schedule');
        if (!(await deleteSchedule(r.sql, principal.userId, id))) throw notFound('schedule');
        await follow({ id, removed: true });
        r.logger.info({ action: 'schedule_deleted', schedule_id: id, user_id: principal.userId }, 'schedule deleted');
        return c.body(null, 204);
      },
    ),
  ];
}
