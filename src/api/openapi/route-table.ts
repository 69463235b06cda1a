import { z } from 'zod';
import type { Config } from '../../config/index.js';
import { taskRequestSchema } from '../routes/task-request.js';
import { createWorkspaceBody, updateWorkspaceBody } from '../routes/workspace-schemas.js';
import { anyJson, diffSchema, errorSchema, eventSchema, healthSchema, listOf, readinessSchema, taskSchema, tokenPairSchema, workspaceSchema } from './schemas.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How a route authenticates: an access token, nothing, the optional metrics token, or an admin token with a permission. */
export type RouteAuth = 'bearer' | 'none' | 'metrics' | 'admin';

export interface RouteResponse {
  status: number;
  description: string;
  schema?: z.ZodTypeAny;
  /** application/json unless said otherwise. */
  contentType?: string;
}

/** One documented operation. `path` is the Hono pattern exactly as it appears in `app.routes`. */
export interface RouteDoc {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  description?: string;
  /** Permission the route checks beyond authentication. */
  permission?: string;
  query?: z.AnyZodObject;
  headers?: Array<{ name: string; description: string; required?: boolean }>;
  body?: z.ZodTypeAny;
  responses: RouteResponse[];
}

const ok = (schema: z.ZodTypeAny, description = 'OK', status = 200): RouteResponse => ({ status, description, schema });

const loginBody = z.object({ email: z.string().email().max(320), password: z.string().min(1).max(1024) }).strict();
const taskListQuery = z
  .object({
    workspace_id: z.string().uuid().optional(),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out']).optional(),
    cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
    limit: z.number().int().min(1).max(100).default(20),
  })
  .strict();
const eventsQuery = z
  .object({
    after: z.number().int().min(0).optional().describe('Only events with a larger seq (like Last-Event-ID)'),
    limit: z.number().int().min(1).max(5000).optional(),
    format: z.enum(['json', 'sse']).optional().describe('json: a page of stored events; sse (default for Accept: text/event-stream): a live stream'),
  })
  .strict();

const BOARD_METHODS: HttpMethod[] = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];

/**
 * Every route the API serves. test/api/ops-openapi.test.ts fails when a route registered on the app is
 * missing here (or one listed here is not registered): add an entry with the route.
 */
export function routeTable(cfg: Config): RouteDoc[] {
  const board: RouteDoc[] = BOARD_METHODS.flatMap((method) =>
    ['/admin/queues', '/admin/queues/*'].map(
      (path): RouteDoc => ({
        method,
        path,
        summary: path.endsWith('*') ? `bull-board: ${method === 'GET' ? 'pages, assets and JSON API' : 'queue and job actions'}` : 'bull-board dashboard',
        tag: 'admin',
        auth: 'admin',
        permission: method === 'GET' ? 'admin:queues:read' : 'admin:queues',
        description:
          'The bull-board UI and its JSON API (owned by bull-board). admin:queues has full control, admin:queues:read a ' +
          'read-only board; state-changing requests need a bearer token or a same-origin page, and JSON bodies.',
        responses: [
          { status: 200, description: 'HTML page, static asset or JSON', contentType: method === 'GET' ? 'text/html' : 'application/json', schema: anyJson },
        ],
      }),
    ),
  );

  return [
    { method: 'GET', path: '/healthz', summary: 'Liveness: the process answers', tag: 'operations', auth: 'none', responses: [ok(healthSchema)] },
    {
      method: 'GET',
      path: '/readyz',
      summary: 'Readiness: Postgres and Redis answer, each with its latency',
      tag: 'operations',
      auth: 'none',
      responses: [ok(readinessSchema, 'Ready'), { status: 503, description: 'A dependency does not answer', schema: readinessSchema }],
    },
    {
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      tag: 'operations',
      auth: 'metrics',
      description: 'Needs Authorization: Bearer <metrics.bearer_token> when that key is set.',
      responses: [{ status: 200, description: 'Prometheus text format 0.0.4', contentType: 'text/plain', schema: z.string() }],
    },
    {
      method: 'GET',
      path: '/openapi.json',
      summary: 'This OpenAPI 3.1 description',
      tag: 'docs',
      auth: 'none',
      responses: [ok(anyJson, 'OpenAPI document')],
    },
    {
      method: 'GET',
      path: '/docs',
      summary: 'Swagger UI for /openapi.json',
      tag: 'docs',
      auth: 'none',
      responses: [{ status: 200, description: 'HTML page', contentType: 'text/html', schema: z.string() }],
    },
    {
      method: 'POST',
      path: '/api/v1/auth/login',
      summary: 'Log in with email and password',
      tag: 'auth',
      auth: 'none',
      body: loginBody,
      responses: [ok(tokenPairSchema), { status: 401, description: 'Invalid credentials', schema: errorSchema }],
    },
    {
      method: 'POST',
      path: '/api/v1/workspaces',
      summary: 'Create a workspace',
      tag: 'workspaces',
      auth: 'bearer',
      body: createWorkspaceBody,
      responses: [ok(workspaceSchema, 'Created', 201), { status: 422, description: 'Git source outside policy', schema: errorSchema }],
    },
    { method: 'GET', path: '/api/v1/workspaces', summary: 'List own workspaces', tag: 'workspaces', auth: 'bearer', responses: [ok(listOf(workspaceSchema))] },
    { method: 'GET', path: '/api/v1/workspaces/:id', summary: 'Get a workspace', tag: 'workspaces', auth: 'bearer', responses: [ok(workspaceSchema)] },
    {
      method: 'PUT',
      path: '/api/v1/workspaces/:id',
      summary: 'Rename a workspace or change its source',
      tag: 'workspaces',
      auth: 'bearer',
      body: updateWorkspaceBody,
      responses: [ok(workspaceSchema), { status: 422, description: 'Git source outside policy', schema: errorSchema }],
    },
    {
      method: 'DELETE',
      path: '/api/v1/workspaces/:id',
      summary: 'Delete a workspace',
      tag: 'workspaces',
      auth: 'bearer',
      responses: [{ status: 204, description: 'Deleted' }, { status: 409, description: 'Tasks still queued or running', schema: errorSchema }],
    },
    {
      method: 'POST',
      path: '/api/v1/tasks',
      summary: 'Submit a task',
      tag: 'tasks',
      auth: 'bearer',
      body: taskRequestSchema(cfg),
      headers: [{ name: 'Idempotency-Key', description: 'Repeating a request with the same key returns the first task' }],
      responses: [
        ok(taskSchema, 'Accepted: stored and queued', 202),
        ok(taskSchema, 'Replayed: the task of an earlier request with this Idempotency-Key'),
        { status: 422, description: 'A value above a configured cap, or an Idempotency-Key reused with another body', schema: errorSchema },
        { status: 503, description: 'Redis unavailable: the task is stored (task_id) and queued later', schema: errorSchema },
      ],
    },
    {
      method: 'GET',
      path: '/api/v1/tasks',
      summary: 'List own tasks, newest first',
      tag: 'tasks',
      auth: 'bearer',
      query: taskListQuery,
      responses: [ok(listOf(taskSchema, true))],
    },
    { method: 'GET', path: '/api/v1/tasks/:id', summary: 'Get a task', tag: 'tasks', auth: 'bearer', responses: [ok(taskSchema)] },
    { method: 'GET', path: '/api/v1/tasks/:id/diff', summary: 'The workspace change as a git patch', tag: 'tasks', auth: 'bearer', responses: [ok(diffSchema)] },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/events',
      summary: 'Task events: a live SSE stream, or a JSON page with format=json',
      tag: 'tasks',
      auth: 'bearer',
      query: eventsQuery,
      headers: [{ name: 'Last-Event-ID', description: 'Resume an SSE stream after this seq' }],
      responses: [
        { status: 200, description: 'Server-sent events: id: <seq>, event: status | claude | stderr | end', contentType: 'text/event-stream', schema: z.string() },
        ok(z.object({ items: z.array(eventSchema), next_after: z.number().int() }).passthrough(), 'A page of stored events (format=json)'),
      ],
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/transcript',
      summary: 'The Claude Code session transcript (JSON lines)',
      tag: 'tasks',
      auth: 'bearer',
      responses: [{ status: 200, description: 'NDJSON; X-Transcript-Truncated tells whether it was cut', contentType: 'application/x-ndjson', schema: z.string() }],
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/cancel',
      summary: 'Cancel a queued or running task',
      tag: 'tasks',
      auth: 'bearer',
      responses: [
        ok(taskSchema, 'Cancelled (it was still waiting)'),
        ok(taskSchema, 'Cancel requested: the worker running it stops the sandbox', 202),
        { status: 409, description: 'Already finished', schema: errorSchema },
      ],
    },
    {
      method: 'GET',
      path: '/api/v1/webhook-secret',
      summary: 'The webhook signing secret (made on first read)',
      tag: 'webhooks',
      auth: 'bearer',
      responses: [ok(z.object({ secret: z.string(), signature_header: z.string(), algorithm: z.string() }).passthrough())],
    },
    {
      method: 'POST',
      path: '/api/v1/webhook-secret/rotate',
      summary: 'Rotate the webhook signing secret',
      tag: 'webhooks',
      auth: 'bearer',
      responses: [ok(z.object({ secret: z.string() }).passthrough())],
    },
    ...board,
  ];
}
