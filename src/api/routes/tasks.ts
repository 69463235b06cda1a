import { Hono } from 'hono';
import { z } from 'zod';
import { findTask, findTaskDiff, insertTask, listTasks, markEnqueued, TASK_STATUSES, type TaskCursor } from '../../db/tasks.js';
import { listTaskEvents } from '../../db/task-events.js';
import { findWorkspace } from '../../db/workspaces.js';
import { enqueueTask } from '../../queue/task-queue.js';
import type { ApiResources } from '../../resources.js';
import { badRequest, notFound, unavailable } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { taskJson } from '../serialize.js';
import { parseWith, readJson } from '../validate.js';
import { uuidParam } from './params.js';
import { checkCaps, taskOptions, taskRequestSchema } from './task-request.js';

const listQuery = z
  .object({
    workspace_id: z.string().uuid().optional(),
    status: z.enum(TASK_STATUSES).optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

const eventsQuery = z
  .object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(500), format: z.literal('json').optional() })
  .strict();

const encodeCursor = (c: TaskCursor) => Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
function decodeCursor(text: string): TaskCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [string, string];
    if (typeof createdAt !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(createdAt))) throw new Error('shape');
    return { createdAt, id };
  } catch {
    throw badRequest('cursor is invalid: pass the next_cursor value of the previous page unchanged');
  }
}

export function taskRoutes(r: ApiResources) {
  const requestSchema = taskRequestSchema(r.config);

  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const principal = c.get('principal');
      const body = await readJson(c, requestSchema);
      checkCaps(body, r.config);
      const workspace = await findWorkspace(r.sql, principal.userId, body.workspace_id);
      if (!workspace) throw notFound('workspace');
      if (body.resume_from && !(await findTask(r.sql, principal.userId, body.resume_from))) throw notFound('resume_from task');
      // The row first: if Redis is away the reconciler enqueues it later, so an accepted task is never lost.
      const task = await insertTask(r.sql, {
        ownerId: principal.userId,
        workspaceId: workspace.id,
        prompt: body.prompt,
        options: taskOptions(body),
        metadata: body.metadata ?? null,
      });
      try {
        await enqueueTask(r.queue, task.id);
      } catch (err) {
        r.logger.warn({ err, task_id: task.id, action: 'enqueue_failed' }, 'queue unavailable; task left for the reconciler');
        throw unavailable('the task queue (Redis) is unavailable; the task was stored and will be queued when Redis is back', {
          task_id: task.id,
        });
      }
      await markEnqueued(r.sql, task.id);
      r.logger.info({ action: 'task_created', task_id: task.id, workspace_id: workspace.id, user_id: principal.userId }, 'task queued');
      return c.json(taskJson(task), 202);
    })
    .get('/', async (c) => {
      const q = parseWith(listQuery, c.req.query(), 'query');
      const rows = await listTasks(r.sql, c.get('principal').userId, {
        workspaceId: q.workspace_id,
        status: q.status,
        cursor: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const next = rows.length > q.limit && last ? encodeCursor({ createdAt: last.created_at.toISOString(), id: last.id }) : null;
      return c.json({ items: page.map(taskJson), next_cursor: next });
    })
    .get('/:id', async (c) => {
      const task = await findTask(r.sql, c.get('principal').userId, uuidParam(c, 'task'));
      if (!task) throw notFound('task');
      return c.json(taskJson(task));
    })
    .get('/:id/diff', async (c) => {
      const id = uuidParam(c, 'task');
      const row = await findTaskDiff(r.sql, c.get('principal').userId, id);
      if (!row) throw notFound('task');
      return c.json({ task_id: id, status: row.status, diff: row.diff ?? '', truncated: row.diff_truncated });
    })
    .get('/:id/events', async (c) => {
      const id = uuidParam(c, 'task');
      const q = parseWith(eventsQuery, c.req.query(), 'query');
      const task = await findTask(r.sql, c.get('principal').userId, id);
      if (!task) throw notFound('task');
      const events = await listTaskEvents(r.sql, id, q.after, q.limit);
      const last = events[events.length - 1];
      return c.json({ items: events, next_after: last ? last.seq : q.after });
    });
}
