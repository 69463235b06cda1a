import { z } from 'zod';
import { ERROR_CODES } from '../../domain/error-codes.js';
import { TASK_STATUSES } from '../../domain/task-status.js';

// Response shapes for the OpenAPI description: what serialize.ts and the route handlers return. Objects are
// closed (`strict`, additionalProperties: false in the document), so a field a handler adds without
// documenting it fails test/api/openapi-responses.test.ts instead of reaching clients unannounced.

const timestamp = z.string().datetime({ offset: true });

export const errorSchema = z
  .object({
    error: z.string().describe('Short title, e.g. "Invalid token" (Korean when Accept-Language prefers ko)'),
    message: z.string().describe('One sentence naming the cause and, where there is one, the fix'),
    retry_after: z.number().int().optional().describe('429: seconds to wait (also in Retry-After)'),
    task_id: z.string().uuid().optional().describe('503 on POST /api/v1/tasks: the task was stored and is queued once Redis is back'),
  })
  .strict()
  .describe('Every error: {error, message}; 429 adds retry_after, 503 on POST /tasks adds task_id');

const workspaceSourceSchema = z.union([
  z.object({ type: z.literal('empty') }).strict(),
  z.object({ type: z.literal('git'), url: z.string(), ref: z.string().optional() }).strict(),
]);

const egressSchema = z
  .union([z.object({ mode: z.literal('none') }).strict(), z.object({ mode: z.literal('allowlist'), domains: z.array(z.string()) }).strict()])
  .describe("The sandbox's network: none, or the listed host names through the egress proxy");

const gitIdentitySchema = z.object({ name: z.string(), email: z.string() }).strict();

const workspacePushSchema = z
  .object({
    remote: z.string().describe('source (the workspace\'s git source) or the https:// or file:// URL pushed to'),
    branch_prefix: z.string().describe('A task pushes branch <prefix><first 8 hex digits of its id>'),
    default: z.boolean().describe('Tasks push unless they ask push: false'),
    author: gitIdentitySchema,
    committer: gitIdentitySchema,
    credential: z.object({ set: z.boolean(), masked: z.string().nullable() }).strict().describe('The git credential, only ever masked'),
  })
  .strict()
  .nullable()
  .describe('Where succeeded tasks push their work as a branch; null: nowhere');
const mcpServerSchema = z.discriminatedUnion('type', [
  z
    .object({
      name: z.string(),
      type: z.literal('stdio'),
      command: z.string(),
      args: z.array(z.string()),
      env: z.record(z.string()).describe('Variable name to masked value'),
    })
    .strict()
    .describe('A command present in the sandbox image, run inside the sandbox'),
  z
    .object({ name: z.string(), type: z.literal('http'), url: z.string(), headers: z.record(z.string()).describe('Header name to masked value') })
    .strict()
    .describe("A remote server, reached through the workspace's egress allowlist"),
]);

export const workspaceSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    source: workspaceSourceSchema,
    egress: egressSchema,
    anthropic_key: z
      .object({ set: z.boolean(), masked: z.string().nullable(), key_id: z.string().nullable() })
      .strict()
      .describe("The workspace's own Anthropic key, only ever masked"),
    push: workspacePushSchema,
    mcp_servers: z.array(mcpServerSchema).describe('MCP servers handed to claude --mcp-config; env and header values only masked'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .strict();

const taskStatus = z.enum(TASK_STATUSES);

export const taskOptionsSchema = z
  .object({
    model: z.string(),
    max_turns: z.number().int(),
    timeout_seconds: z.number().int(),
    max_budget_usd: z.number(),
    max_output_tokens: z.number().int(),
    permission_mode: z.enum(['default', 'acceptEdits', 'plan', 'bypassPermissions']),
    allowed_tools: z.array(z.string()),
    disallowed_tools: z.array(z.string()),
    append_system_prompt: z.string(),
    resources: z.object({ memory_mb: z.number().int(), cpus: z.number(), pids: z.number().int() }).partial().strict(),
    resume_from: z.string().uuid(),
    priority: z.number().int(),
    push: z.boolean(),
  })
  .partial()
  .strict()
  .describe('The options of the request, as given');

const taskResultSchema = z
  .object({
    text: z.string().nullable(),
    is_error: z.boolean(),
    subtype: z.string().nullable(),
    num_turns: z.number().nullable(),
    total_cost_usd: z.number().nullable(),
    usage: z.record(z.unknown()).nullable(),
    session_id: z.string().nullable(),
    duration_ms: z.number().nullable(),
    permission_denials: z.array(z.unknown()).describe('The tool uses the permission mode refused'),
  })
  .strict()
  .describe("Picked from Claude Code's final result line");

export const taskSchema = z
  .object({
    id: z.string().uuid(),
    workspace_id: z.string().uuid(),
    status: taskStatus,
    attempt: z.number().int(),
    prompt: z.string(),
    options: taskOptionsSchema,
    metadata: z.record(z.unknown()).nullable(),
    result: taskResultSchema.nullable(),
    error: z
      .object({
        code: z
          .enum(ERROR_CODES)
          .describe(
            'Why the task did not succeed. output_limit: the agent printed past sandbox.max_events_per_task or sandbox.max_event_bytes_per_task (the message names the key); output_rejected: Postgres refused the output as data (SQLSTATE class 22). disk_full: the disk watchdog stopped the task (sandbox.scratch.watchdog_percent). None of these is retried.',
          ),
        message: z.string().nullable(),
      })
      .strict()
      .nullable(),
    attempt_errors: z
      .array(z.object({ attempt: z.number().int(), code: z.string(), message: z.string(), at: timestamp }).strict())
      .describe('Errors of earlier attempts that were retried'),
    exit_code: z.number().int().nullable(),
    usage: z.record(z.unknown()).nullable(),
    webhook_url: z.string().nullable().describe('Called when the task finishes'),
    cancel_requested: z.boolean().describe('A cancel was asked for and the worker has not stopped yet'),
    push: z
      .object({
        state: z.enum(['pending', 'pushed', 'failed']),
        branch: z.string().nullable(),
        commit: z.string().nullable(),
        remote: z.string().nullable().describe('The URL pushed to (never with credentials)'),
        compare_url: z.string().nullable().describe('The compare page, for GitHub and GitLab remotes'),
        error: z.string().nullable().describe('Why the push failed; the task itself stays succeeded. POST /api/v1/tasks/{id}/push retries'),
        tries: z.number().int(),
        pushed_at: z.string().nullable(),
      })
      .strict()
      .nullable()
      .describe('The branch push of a task that asked for one; null otherwise'),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
  })
  .strict();

export const listOf = (item: z.ZodTypeAny) => z.object({ items: z.array(item) }).strict();

/** A keyset page: its items and the cursor of the next one (null on the last page). */
export const pageOf = (item: z.ZodTypeAny) => z.object({ items: z.array(item), next_cursor: z.string().nullable().describe('Pass as cursor for the next page') }).strict();
export const taskPageSchema = pageOf(taskSchema);

export const tokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('Seconds until the access token expires'),
  })
  .strict();

export const diffSchema = z.object({ task_id: z.string().uuid(), status: taskStatus, diff: z.string(), truncated: z.boolean() }).strict();

export const eventSchema = z
  .object({
    seq: z.number().int(),
    attempt: z.number().int().describe('The attempt that wrote the event'),
    type: z.string().describe('status, end, or a Claude Code stream-json message type (system, assistant, user, result, ...)'),
    payload: z.unknown(),
    created_at: timestamp,
  })
  .strict();

export const eventPageSchema = z.object({ items: z.array(eventSchema), next_after: z.number().int().describe('Pass as after for the next page') }).strict();

export const healthSchema = z.object({ status: z.literal('ok') }).strict();

export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    /** Set while the process drains on SIGTERM: it takes no new work and will exit. */
    draining: z.literal(true).optional(),
    checks: z.record(z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() }).strict()),
  })
  .strict();

/** Anything JSON: for endpoints whose body is owned by a third party (bull-board) or is free-form. */
export const anyJson = z.unknown();

export const jwksSchema = z
  .object({ keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() }).passthrough().describe('A public JWK (its other members depend on kty)')) })
  .strict();

export const meSchema = z
  .object({
    id: z.string().uuid(),
    email: z.string(),
    role: z.string(),
    auth: z.enum(['user', 'api_key']),
    api_key_id: z.string().uuid().nullable(),
    permissions: z.array(z.string()),
  })
  .strict();

export const apiKeySchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key, to recognise it'),
    scopes: z.array(z.string()),
    created_at: timestamp,
    expires_at: timestamp.nullable(),
    last_used_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
  })
  .strict();

export const createdApiKeySchema = apiKeySchema.extend({ key: z.string().describe('Shown only in this response') }).strict();

export const adminUserSchema = z
  .object({
    id: z.string().uuid(),
    email: z.string(),
    role: z.string(),
    disabled: z.boolean(),
    has_password: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .strict();

const roleFields = { name: z.string(), description: z.string(), source: z.enum(['config', 'api']), permissions: z.array(z.string()) };

export const roleSchema = z.object(roleFields).strict();

export const listedRoleSchema = z.object({ ...roleFields, updated_at: timestamp }).strict();

export const auditEntrySchema = z
  .object({
    id: z.number().int(),
    created_at: timestamp,
    actor_id: z.string().nullable(),
    actor_kind: z.string(),
    action: z.string(),
    target_type: z.string().nullable(),
    target_id: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.unknown()),
  })
  .strict();

export const auditPageSchema = z.object({ items: z.array(auditEntrySchema), next_before: z.number().int().nullable().describe('Pass as before for the next page') }).strict();

export const webhookSecretSchema = z.object({ secret: z.string(), signature_header: z.string(), algorithm: z.string() }).strict();

export const rotatedSecretSchema = z.object({ secret: z.string() }).strict();
