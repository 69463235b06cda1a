import { z } from 'zod';
import { createOnce } from '../../db/idempotency.js';
import { loadArtifact } from '../../db/task-artifacts.js';
import { findTask, findTaskDiff, listTasks, type TaskRow } from '../../db/tasks.js';
import { decodePageCursor, nextCursor } from '../page-cursor.js';
import { clearEnqueued, submitTask, type TaskSubmission } from '../../db/task-submit.js';
import { taskJson } from '../../domain/task-json.js';
import { TASK_STATUSES } from '../../domain/task-status.js';
import { listTaskEvents } from '../../db/task-events.js';
import { findWorkspace, type WorkspaceRow } from '../../db/workspaces.js';
import { requestPushRetry } from '../../db/task-push.js';
import { JOB_CATALOG } from '../../queue/job-catalog.js';
import { enqueuePush } from '../../queue/push-queue.js';
import { taskEventStream } from '../../events/task-stream.js';
import { enqueueTask } from '../../queue/task-queue.js';
import type { ApiResources } from '../../resources.js';
import { createOutboxRelay, createTaskLifecycle } from '../../tasks/lifecycle/index.js';
import { requestHash } from '../../tasks/request-hash.js';
import { checkResumable } from '../../tasks/resume.js';
import { checkWebhookUrl } from '../../tasks/webhook-url.js';
import { ApiError, badRequest, conflict, notFound, unavailable, unprocessable } from '../errors.js';
import { err, ok, text } from '../openapi/response-docs.js';
import { diffSchema, eventPageSchema, taskPageSchema, taskSchema } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { checkCaps, checkMcpToolRules, maxActiveTasks, namesMcpTools, taskOptions, taskRequestSchema, tooManyTasks } from './task-request.js';

const listQuery = z
  .object({
    workspace_id: z.string().uuid().optional(),
    status: z.enum(TASK_STATUSES).optional(),
    cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

/** Event seq is a Postgres integer. */
const MAX_SEQ = 2_147_483_647;

const eventsQuery = z
  .object({
    after: z.coerce.number().int().min(0).max(MAX_SEQ).optional().describe('Only events with a larger seq (like Last-Event-ID)'),
    limit: z.coerce.number().int().min(1).max(5000).optional(),
    format: z.enum(['json', 'sse']).optional().describe('json: a page of stored events; sse (the default): a live stream'),
  })
  .strict();

const PATH = '/api/v1/tasks';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function taskRoutes(r: ApiResources): RouteDef[] {
  const requestSchema = taskRequestSchema(r.config);
  // Cancel is the API's one task transition; its outbox row is delivered here right after commit.
  const lifecycle = createTaskLifecycle({
    sql: r.sql,
    logger: r.logger,
    relay: createOutboxRelay({ sql: r.sql, publisher: r.redis, prefix: r.config.redis.key_prefix, webhooks: r.webhooks, pushes: r.pushes, queue: r.queue, logger: r.logger }),
  });

  const ownedTask = async (ownerId: string, id: string): Promise<TaskRow> => {
    const task = await findTask(r.sql, ownerId, id);
    if (!task) throw notFound('task');
    return task;
  };

  const tag = 'tasks';
  const read = need('task:read:own');

  return [
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Submit a task',
        tag,
        access: need('task:create'),
        body: requestSchema,
        headers: [{ name: 'Idempotency-Key', description: 'Repeating a request with the same key returns the first task' }],
        responses: [
          ok(taskSchema, 'Accepted: stored and queued', 202),
          ok(taskSchema, 'Replayed: the task of an earlier request with this Idempotency-Key (Idempotent-Replayed: true)'),
          err(404, "The workspace does not exist or is another tenant's"),
          err(422, 'A value above a configured cap, or an Idempotency-Key reused with another body'),
          err(429, 'Too many queued or running tasks for this user (Retry-After)'),
          err(503, 'Redis unavailable: the task is stored (task_id) and queued later'),
        ],
      },
      async (c, input) => {
        const principal = c.get('principal');
        const key = c.req.header('idempotency-key');
        if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw badRequest('Idempotency-Key must be 1-255 printable ASCII characters');
        const body = await input.body();
        checkCaps(body, r.config, principal.role);
        const webhook = body.webhook_url ? checkWebhookUrl(body.webhook_url, r.config.webhooks) : null;
        // The workspace's 404 comes before the resume, MCP tool, webhook and push refusals. Without any, the
        // submission's own statement checks the workspace (one round trip for the check, the cap and the insert).
        let push = body.push;
        const mcpRules = namesMcpTools(body);
        // A push asked for is checked against the workspace here; one not asked for follows the workspace's
        // default, which the submission's statement reads.
        if (body.resume_from || mcpRules || (webhook && !webhook.ok) || push === true) {
          const workspace = await findWorkspace(r.sql, principal.userId, body.workspace_id);
          if (!workspace) throw notFound('workspace');
          if (mcpRules) checkMcpToolRules(body, workspace);
          if (body.resume_from) await checkResumable(r.sql, principal.userId, workspace.id, body.resume_from);
          if (webhook && !webhook.ok) throw unprocessable(webhook.message);
          push = decidePush(workspace, push);
        }
        // The concurrency cap is checked only when a task is really created (an idempotent replay is not new work),
        // under the lock of the user's count, so concurrent submissions never pass the cap together.
        const submission: TaskSubmission = {
          ownerId: principal.userId,
          workspaceId: body.workspace_id,
          prompt: body.prompt,
          options: { ...taskOptions(body), ...(push ? { push: true } : {}) },
          metadata: body.metadata ?? null,
          webhookUrl: webhook?.ok ? webhook.url : null,
          maxActive: maxActiveTasks(principal.role, r.config),
          pushByDefault: push === undefined,
        };
        // The row first: if Redis is away the reconciler enqueues it later, so an accepted task is never lost.
        const res =
          key === undefined
            ? await submitTask(r.sql, submission)
            : await createOnce(r.sql, { ...submission, idempotency: { key, requestHash: requestHash(body), ttlMs: r.config.idempotency.ttl } });
        if (res.kind === 'no_workspace') throw notFound('workspace');
        if (res.kind === 'refused') throw tooManyTasks(res.active, principal.role, r.config);
        if (res.kind === 'mismatch') {
          throw new ApiError(422, 'Idempotency key reused', 'this Idempotency-Key was already used with a different request body');
        }
        if (res.kind === 'replayed') {
          c.header('Idempotent-Replayed', 'true');
          return c.json(taskJson(await ownedTask(principal.userId, res.taskId)), 200);
        }
        const task = res.task;
        try {
          await enqueueTask(r.queue, task.id, { priority: task.options.priority });
        } catch (err) {
          r.logger.warn({ err, task_id: task.id, action: 'enqueue_failed' }, 'queue unavailable; task left for the reconciler');
          await clearEnqueued(r.sql, task.id);
          throw unavailable('the task queue (Redis) is unavailable; the task was stored and will be queued when Redis is back', {
            task_id: task.id,
          });
        }
        r.logger.info({ action: 'task_created', task_id: task.id, workspace_id: task.workspace_id, user_id: principal.userId }, 'task queued');
        return c.json(taskJson(task), 202);
      },
    ),
    defineRoute(
      { method: 'GET', path: PATH, summary: 'List own tasks, newest first', tag, access: read, query: listQuery, responses: [ok(taskPageSchema)] },
      async (c, input) => {
        const q = input.query();
        const rows = await listTasks(r.sql, c.get('principal').userId, {
          workspaceId: q.workspace_id,
          status: q.status,
          cursor: q.cursor ? decodePageCursor(q.cursor) : undefined,
          limit: q.limit + 1,
        });
        return c.json({ items: rows.slice(0, q.limit).map(taskJson), next_cursor: nextCursor(rows, q.limit) });
      },
    ),
    defineRoute({ method: 'GET', path: `${PATH}/:id`, summary: 'Get a task', tag, access: read, responses: [ok(taskSchema)] }, async (c) =>
      c.json(taskJson(await ownedTask(c.get('principal').userId, uuidParam(c, 'task')))),
    ),
    defineRoute({ method: 'GET', path: `${PATH}/:id/diff`, summary: 'The workspace change as a git patch', tag, access: read, responses: [ok(diffSchema)] }, async (c) => {
        const id = uuidParam(c, 'task');
        const row = await findTaskDiff(r.sql, c.get('principal').userId, id);
        if (!row) throw notFound('task');
        return c.json({ task_id: id, status: row.status, diff: row.diff ?? '', truncated: row.diff_truncated });
    }),
    defineRoute(
      {
        method: 'GET',
        path: `${PATH}/:id/transcript`,
        summary: 'The Claude Code session transcript (JSON lines)',
        tag,
        access: read,
        responses: [text('application/x-ndjson', 'NDJSON; X-Transcript-Truncated tells whether it was cut')],
      },
      async (c) => {
        const id = uuidParam(c, 'task');
        await ownedTask(c.get('principal').userId, id);
        const transcript = await loadArtifact(r.sql, id, 'transcript');
        if (!transcript) throw notFound('transcript');
        return c.body(transcript.body, 200, {
          'content-type': 'application/x-ndjson; charset=utf-8',
          'x-transcript-truncated': String(transcript.truncated),
        });
      },
    ),
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/:id/cancel`,
        summary: 'Cancel a queued or running task',
        tag,
        access: need('task:cancel:own'),
        responses: [ok(taskSchema, 'Cancelled (it was still waiting)'), ok(taskSchema, 'Cancel requested: the worker running it stops the sandbox', 202), err(409, 'Already finished')],
      },
      async (c) => {
        const principal = c.get('principal');
        const id = uuidParam(c, 'task');
        const outcome = await lifecycle.cancel(principal.userId, id);
        if (outcome === 'missing') throw notFound('task');
        const task = await ownedTask(principal.userId, id);
        if (outcome === 'already_finished') throw conflict(`task already finished with status ${task.status}; there is nothing to cancel`);
        r.logger.info({ action: 'task_cancel', task_id: id, user_id: principal.userId, outcome }, 'cancel requested');
        return c.json(taskJson(task), outcome === 'cancelled' ? 200 : 202);
      },
    ),
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/:id/push`,
        summary: "Push the task's work as a branch again (after push.error), or for the first time",
        tag,
        access: need('task:create'),
        responses: [
          ok(taskSchema, 'Queued: push.state is pending until the worker has tried', 202),
          err(409, 'Not succeeded, already pushed, or a push is pending'),
          err(422, 'The workspace has no push target'),
          err(503, 'Redis unavailable'),
        ],
      },
      async (c) => {
        const principal = c.get('principal');
        const id = uuidParam(c, 'task');
        const task = await ownedTask(principal.userId, id);
        const workspace = await findWorkspace(r.sql, principal.userId, task.workspace_id);
        if (!workspace) throw notFound('workspace');
        decidePush(workspace, true);
        if (!r.pushes) throw unavailable('branch pushes are not available on this API process');
        const retry = await requestPushRetry(r.sql, principal.userId, id, JOB_CATALOG['push-branch'].timeoutMs(r.config));
        if (retry.kind === 'missing') throw notFound('task');
        if (retry.kind === 'refused') throw conflict(retry.reason);
        try {
          await enqueuePush(r.pushes, id, retry.tries);
        } catch {
          // Nothing would run the try: its pending state must not block the next request.
          await r.sql`update tasks set push = jsonb_set(push, '{state}', '"failed"') || '{"error": "the push queue (Redis) was unavailable; retry"}'::jsonb where id = ${id}`;
          throw unavailable('the push queue (Redis) is unavailable; retry when it is back');
        }
        r.logger.info({ action: 'task_push_requested', task_id: id, user_id: principal.userId, tries: retry.tries }, 'push requested');
        return c.json(taskJson(await ownedTask(principal.userId, id)), 202);
      },
    ),
    defineRoute(
      {
        method: 'GET',
        path: `${PATH}/:id/events`,
        summary: 'Task events: a live SSE stream, or a JSON page with format=json',
        tag,
        access: read,
        query: eventsQuery,
        headers: [{ name: 'Last-Event-ID', description: 'Resume an SSE stream after this seq' }],
        responses: [
          text('text/event-stream', 'Server-sent events: id: <seq>, event: status, end, or a Claude Code stream-json type'),
          ok(eventPageSchema, 'A page of stored events (format=json)'),
        ],
      },
      async (c, input) => {
        const id = uuidParam(c, 'task');
        const q = input.query();
        const ownerId = c.get('principal').userId;
        await ownedTask(ownerId, id);
        const pageSize = r.config.events.page_size;
        if (q.format === 'json') {
          const after = q.after ?? 0;
          const events = await listTaskEvents(r.sql, id, after, Math.min(q.limit ?? pageSize, pageSize));
          const last = events[events.length - 1];
          return c.json({ items: events, next_after: last ? last.seq : after });
        }
        const header = c.req.header('last-event-id');
        const fromHeader = header !== undefined && /^\d{1,10}$/.test(header) && Number(header) <= MAX_SEQ ? Number(header) : undefined;
        const after = fromHeader ?? q.after ?? 0;
        const stream = taskEventStream(
          {
            sql: r.sql,
            hub: r.hub,
            tracker: r.streams,
            logger: r.logger,
            heartbeatMs: r.config.events.heartbeat,
            pageSize,
            maxBacklog: r.config.events.max_client_backlog,
          },
          id,
          after,
          async () => (await findTask(r.sql, ownerId, id))?.status,
          c.req.raw.signal,
        );
        return new Response(stream, {
          headers: {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache, no-transform',
            connection: 'keep-alive',
            'x-accel-buffering': 'no',
          },
        });
      },
    ),
  ];
}

/**
 * Whether a task of this workspace pushes: as asked, else the workspace's default. Asking for a push the
 * workspace cannot make is a 422 that says what to set.
 */
function decidePush(workspace: WorkspaceRow, asked: boolean | undefined): boolean {
  const wanted = asked ?? workspace.push?.default ?? false;
  if (!wanted) return false;
  if (workspace.source.type !== 'git') throw unprocessable('push needs a workspace with a git source');
  if (!workspace.push) throw unprocessable('push needs a push target on the workspace: set push (PUT /api/v1/workspaces/{id} {"push": {"remote": "source"}})');
  return true;
}
