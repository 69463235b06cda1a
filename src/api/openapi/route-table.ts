import { z } from 'zod';
import type { Config } from '../../config/index.js';
import { taskRequestSchema } from '../routes/task-request.js';
import { anthropicKeyBody, createWorkspaceBody, updateWorkspaceBody } from '../routes/workspace-schemas.js';
import {
  adminUserSchema,
  anyJson,
  apiKeySchema,
  auditEntrySchema,
  diffSchema,
  errorSchema,
  eventSchema,
  healthSchema,
  listOf,
  readinessSchema,
  roleSchema,
  taskSchema,
  tokenPairSchema,
  workspaceSchema,
} from './schemas.js';
import { TASK_STATUSES } from '../../domain/task-status.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * How a route outside /api authenticates: nothing, the optional metrics token, or a token whose principal
 * holds `permission`. Routes under /api take theirs from src/api/permissions.ts (the table access control reads).
 */
export type RouteAuth = 'none' | 'metrics' | 'permission';

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
  /** Only for routes outside /api (see RouteAuth). */
  auth?: RouteAuth;
  permission?: string;
  description?: string;
  query?: z.AnyZodObject;
  headers?: Array<{ name: string; description: string; required?: boolean }>;
  body?: z.ZodTypeAny;
  responses: RouteResponse[];
}

const ok = (schema: z.ZodTypeAny, description = 'OK', status = 200): RouteResponse => ({ status, description, schema });
const noContent = (description: string): RouteResponse => ({ status: 204, description });
const err = (status: number, description: string): RouteResponse => ({ status, description, schema: errorSchema });
const text = (contentType: string, description: string): RouteResponse => ({ status: 200, description, contentType, schema: z.string() });

// Request shapes whose zod schemas live unexported inside their route files are mirrored here for the
// document; the routes' own validation stays the authority (a mismatch shows as a 400 there, not here).
const loginBody = z.object({ email: z.string().email().max(320), password: z.string().min(1).max(1024) }).strict();
const refreshBody = z
  .object({ refresh_token: z.string().min(1).max(512).optional().describe('Or the refresh cookie, or Authorization: Bearer <refresh_token>') })
  .strict();
const scope = z.string().describe('resource:action[:own|:any], * as a wildcard');
const apiKeyBody = z
  .object({
    name: z.string().min(1).max(100),
    scopes: z.array(scope).min(1).max(100).optional().describe("Absent: whatever the caller's role grants"),
    expires_at: z.string().datetime({ offset: true }).nullable().optional(),
  })
  .strict();
const adminUserCreate = z
  .object({ email: z.string().email().max(320), password: z.string().min(8).max(1024).optional().describe('Absent: OAuth2 login only'), role: z.string().min(1).max(64).default('user') })
  .strict();
const adminUserPatch = z.object({ role: z.string().min(1).max(64).optional(), disabled: z.boolean().optional() }).strict().describe('role and/or disabled');
const rolePut = z.object({ description: z.string().max(500).default(''), permissions: z.array(scope).max(200) }).strict();
const taskListQuery = z
  .object({
    workspace_id: z.string().uuid().optional(),
    status: z.enum(TASK_STATUSES).optional(),
    cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
    limit: z.number().int().min(1).max(100).default(20),
  })
  .strict();
const eventsQuery = z
  .object({
    after: z.number().int().min(0).max(2_147_483_647).optional().describe('Only events with a larger seq (like Last-Event-ID)'),
    limit: z.number().int().min(1).max(5000).optional(),
    format: z.enum(['json', 'sse']).optional().describe('json: a page of stored events; sse (the default): a live stream'),
  })
  .strict();
const userListQuery = z
  .object({ limit: z.number().int().min(1).max(500).default(100), offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0), role: z.string().max(64).optional() })
  .strict();
const auditQuery = z
  .object({
    limit: z.number().int().min(1).max(500).default(100),
    before: z.string().regex(/^\d{1,18}$/).optional().describe('next_before of the previous page'),
    action: z.string().max(64).optional(),
    actor_id: z.string().uuid().optional(),
  })
  .strict();
const oauthCallbackQuery = z
  .object({ code: z.string().optional(), state: z.string().optional(), error: z.string().optional(), error_description: z.string().optional() })
  .strict();

const BOARD_METHODS: HttpMethod[] = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];

function queueBoard(): RouteDoc[] {
  return BOARD_METHODS.flatMap((method) =>
    ['/admin/queues', '/admin/queues/*'].map(
      (path): RouteDoc => ({
        method,
        path,
        summary: path.endsWith('*') ? `bull-board: ${method === 'GET' ? 'pages, assets and JSON API' : 'queue and job actions'}` : 'bull-board dashboard',
        tag: 'admin',
        auth: 'permission',
        permission: method === 'GET' ? 'admin:queues:read (read-only board) or admin:queues' : 'admin:queues',
        description:
          'The bull-board UI and its JSON API (owned by bull-board). admin:queues has full control, admin:queues:read a ' +
          'read-only board; a state-changing request needs a token header or a same-origin page, and a POST a JSON body.',
        responses: [
          ...(method === 'GET' ? [{ status: 200, description: 'HTML page or static asset', contentType: 'text/html', schema: anyJson }] : []),
          { status: 200, description: 'JSON API answer', contentType: 'application/json', schema: anyJson },
          err(404, 'No such board page, queue or job'),
        ],
      }),
    ),
  );
}

/**
 * Every route the API serves. test/api/ops-openapi.test.ts fails when a route registered on the app is
 * missing here (or one listed here is not registered): add an entry with the route.
 */
export function routeTable(cfg: Config): RouteDoc[] {
  return [
    // ---- operations and docs
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
      responses: [text('text/plain', 'Prometheus text format 0.0.4')],
    },
    { method: 'GET', path: '/openapi.json', summary: 'This OpenAPI 3.1 description', tag: 'docs', auth: 'none', responses: [ok(anyJson, 'OpenAPI document')] },
    { method: 'GET', path: '/docs', summary: 'Swagger UI for /openapi.json', tag: 'docs', auth: 'none', responses: [text('text/html', 'HTML page')] },
    {
      method: 'GET',
      path: '/.well-known/jwks.json',
      summary: 'Public keys that verify access tokens (EdDSA or ES256)',
      tag: 'auth',
      auth: 'none',
      responses: [ok(z.object({ keys: z.array(z.record(z.unknown())) }).passthrough(), 'JWK set'), err(404, 'HS256 tokens: no public key to publish')],
    },

    // ---- auth
    {
      method: 'POST',
      path: '/api/v1/auth/login',
      summary: 'Log in with email and password',
      tag: 'auth',
      body: loginBody,
      responses: [ok(tokenPairSchema, 'Token pair; the refresh token is also set as a cookie'), err(401, 'Invalid credentials'), err(429, 'Too many login attempts')],
    },
    {
      method: 'POST',
      path: '/api/v1/auth/refresh',
      summary: 'Rotate a refresh token for a new pair (reuse revokes the session)',
      tag: 'auth',
      body: refreshBody,
      responses: [ok(tokenPairSchema), err(401, 'Missing, expired, revoked or reused refresh token')],
    },
    {
      method: 'POST',
      path: '/api/v1/auth/logout',
      summary: 'End the session of an access or refresh token',
      tag: 'auth',
      body: refreshBody,
      responses: [noContent('Logged out'), err(401, 'No token presented')],
    },
    {
      method: 'GET',
      path: '/api/v1/auth/me',
      summary: 'The caller: id, email, role, how it authenticated, effective permissions',
      tag: 'auth',
      responses: [ok(z.object({ id: z.string().uuid(), email: z.string(), role: z.string(), auth: z.enum(['user', 'api_key']), api_key_id: z.string().nullable(), permissions: z.array(z.string()) }).passthrough())],
    },
    {
      method: 'GET',
      path: '/api/v1/auth/oauth/:provider',
      summary: 'Start an OAuth2 login (github, google): redirect to the provider with state and PKCE',
      tag: 'auth',
      responses: [{ status: 302, description: "Redirect to the provider's consent page" }, err(404, 'Provider not configured')],
    },
    {
      method: 'GET',
      path: '/auth/callback/:provider',
      summary: 'OAuth2 redirect target: checks state, exchanges the code, starts a session',
      tag: 'auth',
      auth: 'none',
      query: oauthCallbackQuery,
      responses: [ok(tokenPairSchema), { status: 302, description: 'Redirect to oauth2.success_redirect_url with the refresh cookie' }, err(400, 'oauth2 error (state, code or provider)')],
    },

    // ---- API keys
    {
      method: 'POST',
      path: '/api/v1/api-keys',
      summary: 'Create an API key (the key is shown once)',
      tag: 'api-keys',
      body: apiKeyBody,
      responses: [ok(apiKeySchema.extend({ key: z.string().describe('Shown only in this response') }), 'Created', 201), err(422, 'A scope beyond the caller’s permissions')],
    },
    {
      method: 'GET',
      path: '/api/v1/api-keys',
      summary: 'List own API keys (never the keys themselves)',
      tag: 'api-keys',
      query: z.object({ include_revoked: z.enum(['true', 'false']).optional() }).strict(),
      responses: [ok(listOf(apiKeySchema))],
    },
    { method: 'DELETE', path: '/api/v1/api-keys/:id', summary: 'Revoke an API key', tag: 'api-keys', responses: [noContent('Revoked')] },

    // ---- admin
    { method: 'GET', path: '/api/v1/admin/users', summary: 'List users', tag: 'admin', query: userListQuery, responses: [ok(listOf(adminUserSchema))] },
    {
      method: 'POST',
      path: '/api/v1/admin/users',
      summary: 'Create a user',
      tag: 'admin',
      body: adminUserCreate,
      responses: [ok(adminUserSchema, 'Created', 201), err(403, 'Permission escalation refused: the role grants a permission the caller does not hold'), err(409, 'Email already used'), err(422, 'Unknown role')],
    },
    { method: 'GET', path: '/api/v1/admin/users/:id', summary: 'Get a user', tag: 'admin', responses: [ok(adminUserSchema)] },
    {
      method: 'PATCH',
      path: '/api/v1/admin/users/:id',
      summary: "Change a user's role or disable them (disabling ends their sessions)",
      tag: 'admin',
      body: adminUserPatch,
      responses: [ok(adminUserSchema), err(403, 'Permission escalation refused: the role grants a permission the caller does not hold'), err(409, 'Would leave no enabled admin'), err(422, 'Unknown role')],
    },
    { method: 'GET', path: '/api/v1/admin/roles', summary: 'List roles and their permissions', tag: 'admin', responses: [ok(listOf(roleSchema))] },
    {
      method: 'PUT',
      path: '/api/v1/admin/roles/:name',
      summary: 'Create or replace a role (roles from rbac.roles are changed in the config)',
      tag: 'admin',
      body: rolePut,
      responses: [ok(roleSchema, 'Replaced'), ok(roleSchema, 'Created', 201), err(403, 'Permission escalation refused: a permission the caller does not hold'), err(409, 'The role is defined in the config')],
    },
    {
      method: 'DELETE',
      path: '/api/v1/admin/roles/:name',
      summary: 'Delete a role made through the API',
      tag: 'admin',
      responses: [noContent('Deleted'), err(409, 'Defined in the config, or still held by users')],
    },
    {
      method: 'GET',
      path: '/api/v1/admin/audit',
      summary: 'The audit log, newest first',
      tag: 'admin',
      query: auditQuery,
      responses: [ok(z.object({ items: z.array(auditEntrySchema), next_before: z.number().int().nullable() }).passthrough())],
    },

    // ---- workspaces
    {
      method: 'POST',
      path: '/api/v1/workspaces',
      summary: 'Create a workspace',
      tag: 'workspaces',
      body: createWorkspaceBody,
      responses: [ok(workspaceSchema, 'Created', 201), err(422, 'Git source or egress allowlist outside policy')],
    },
    { method: 'GET', path: '/api/v1/workspaces', summary: 'List own workspaces', tag: 'workspaces', responses: [ok(listOf(workspaceSchema))] },
    { method: 'GET', path: '/api/v1/workspaces/:id', summary: 'Get a workspace', tag: 'workspaces', responses: [ok(workspaceSchema)] },
    {
      method: 'PUT',
      path: '/api/v1/workspaces/:id',
      summary: 'Rename a workspace, or change its source or egress policy',
      tag: 'workspaces',
      body: updateWorkspaceBody,
      responses: [ok(workspaceSchema), err(422, 'Git source or egress allowlist outside policy')],
    },
    {
      method: 'DELETE',
      path: '/api/v1/workspaces/:id',
      summary: 'Delete a workspace',
      tag: 'workspaces',
      responses: [noContent('Deleted'), err(409, 'Tasks still queued or running')],
    },
    {
      method: 'PUT',
      path: '/api/v1/workspaces/:id/anthropic-key',
      summary: "Store the workspace's own Anthropic API key (sealed; never shown again)",
      tag: 'workspaces',
      body: anthropicKeyBody,
      responses: [noContent('Stored'), err(422, 'Not an Anthropic API key'), err(503, 'No secrets.master_key configured')],
    },
    {
      method: 'DELETE',
      path: '/api/v1/workspaces/:id/anthropic-key',
      summary: "Remove the workspace's Anthropic key (tasks use the worker's key again)",
      tag: 'workspaces',
      responses: [noContent('Removed')],
    },

    // ---- tasks
    {
      method: 'POST',
      path: '/api/v1/tasks',
      summary: 'Submit a task',
      tag: 'tasks',
      body: taskRequestSchema(cfg),
      headers: [{ name: 'Idempotency-Key', description: 'Repeating a request with the same key returns the first task' }],
      responses: [
        ok(taskSchema, 'Accepted: stored and queued', 202),
        ok(taskSchema, 'Replayed: the task of an earlier request with this Idempotency-Key (Idempotent-Replayed: true)'),
        err(404, 'The workspace does not exist or is another tenant\'s'),
        err(422, 'A value above a configured cap, or an Idempotency-Key reused with another body'),
        err(429, 'Too many queued or running tasks for this user (Retry-After)'),
        err(503, 'Redis unavailable: the task is stored (task_id) and queued later'),
      ],
    },
    { method: 'GET', path: '/api/v1/tasks', summary: 'List own tasks, newest first', tag: 'tasks', query: taskListQuery, responses: [ok(listOf(taskSchema, true))] },
    { method: 'GET', path: '/api/v1/tasks/:id', summary: 'Get a task', tag: 'tasks', responses: [ok(taskSchema)] },
    { method: 'GET', path: '/api/v1/tasks/:id/diff', summary: 'The workspace change as a git patch', tag: 'tasks', responses: [ok(diffSchema)] },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/events',
      summary: 'Task events: a live SSE stream, or a JSON page with format=json',
      tag: 'tasks',
      query: eventsQuery,
      headers: [{ name: 'Last-Event-ID', description: 'Resume an SSE stream after this seq' }],
      responses: [
        text('text/event-stream', 'Server-sent events: id: <seq>, event: status | claude | stderr | end'),
        ok(z.object({ items: z.array(eventSchema), next_after: z.number().int() }).passthrough(), 'A page of stored events (format=json)'),
      ],
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/transcript',
      summary: 'The Claude Code session transcript (JSON lines)',
      tag: 'tasks',
      responses: [text('application/x-ndjson', 'NDJSON; X-Transcript-Truncated tells whether it was cut')],
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/cancel',
      summary: 'Cancel a queued or running task',
      tag: 'tasks',
      responses: [
        ok(taskSchema, 'Cancelled (it was still waiting)'),
        ok(taskSchema, 'Cancel requested: the worker running it stops the sandbox', 202),
        err(409, 'Already finished'),
      ],
    },

    // ---- webhooks
    {
      method: 'GET',
      path: '/api/v1/webhook-secret',
      summary: 'The webhook signing secret (made on first read)',
      tag: 'webhooks',
      responses: [ok(z.object({ secret: z.string(), signature_header: z.string(), algorithm: z.string() }).passthrough())],
    },
    { method: 'POST', path: '/api/v1/webhook-secret/rotate', summary: 'Rotate the webhook signing secret', tag: 'webhooks', responses: [ok(z.object({ secret: z.string() }).passthrough())] },

    ...queueBoard(),
  ];
}
