import { z } from 'zod';
import { ERROR_CODES } from '../../domain/error-codes.js';
import { TASK_STATUSES } from '../../domain/task-status.js';

// Response shapes for the OpenAPI description. They describe what serialize.ts and the route handlers
// return; objects are open (`passthrough`) so a field added by a handler is not a contract break.

export const errorSchema = z
  .object({
    error: z.string().describe('Short title, e.g. "Invalid token" (Korean when Accept-Language prefers ko)'),
    message: z.string().describe('One sentence naming the cause and, where there is one, the fix'),
  })
  .passthrough()
  .describe('Every error: {error, message}; 429 adds retry_after, 503 on POST /tasks adds task_id');

export const workspaceSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    source: z.union([z.object({ type: z.literal('empty') }), z.object({ type: z.literal('git'), url: z.string(), ref: z.string().optional() })]),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .passthrough();

const taskStatus = z.enum(TASK_STATUSES);

export const taskSchema = z
  .object({
    id: z.string().uuid(),
    workspace_id: z.string().uuid(),
    status: taskStatus,
    attempt: z.number().int(),
    prompt: z.string(),
    options: z.record(z.unknown()),
    metadata: z.record(z.unknown()).nullable(),
    result: z
      .object({
        text: z.string().nullable(),
        is_error: z.boolean(),
        subtype: z.string().nullable(),
        num_turns: z.number().nullable(),
        total_cost_usd: z.number().nullable(),
        usage: z.record(z.unknown()).nullable(),
        session_id: z.string().nullable(),
        duration_ms: z.number().nullable(),
      })
      .passthrough()
      .nullable(),
    error: z
      .object({
        code: z
          .enum(ERROR_CODES)
          .describe(
            'Why the task did not succeed. output_limit: the agent printed past sandbox.max_events_per_task or sandbox.max_event_bytes_per_task (the message names the key); output_rejected: Postgres refused the output as data (SQLSTATE class 22). disk_full: the disk watchdog stopped the task (sandbox.scratch.watchdog_percent). None of these is retried.',
          ),
        message: z.string().nullable(),
      })
      .nullable(),
    exit_code: z.number().int().nullable(),
    usage: z.record(z.unknown()).nullable(),
    created_at: z.string().datetime(),
    started_at: z.string().datetime().nullable(),
    finished_at: z.string().datetime().nullable(),
  })
  .passthrough();

export const listOf = (item: z.ZodTypeAny, cursor = false) =>
  z.object({ items: z.array(item), ...(cursor ? { next_cursor: z.string().nullable() } : {}) }).passthrough();

export const tokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string().optional(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('Seconds until the access token expires'),
  })
  .passthrough();

export const diffSchema = z.object({ task_id: z.string().uuid(), status: taskStatus, diff: z.string(), truncated: z.boolean() }).passthrough();

export const eventSchema = z
  .object({ seq: z.number().int(), type: z.enum(['status', 'claude', 'stderr', 'end']), data: z.unknown(), created_at: z.string().datetime().optional() })
  .passthrough();

export const healthSchema = z.object({ status: z.string() }).passthrough();

export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.record(z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() })),
  })
  .passthrough();

/** Anything JSON: for endpoints whose body is owned by a third party (bull-board) or is free-form. */
export const anyJson = z.unknown();

export const apiKeySchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key, to recognise it'),
    scopes: z.array(z.string()),
    created_at: z.string().datetime(),
    expires_at: z.string().datetime().nullable(),
    last_used_at: z.string().datetime().nullable(),
    revoked_at: z.string().datetime().nullable(),
  })
  .passthrough();

export const adminUserSchema = z
  .object({
    id: z.string().uuid(),
    email: z.string(),
    role: z.string(),
    disabled: z.boolean(),
    has_password: z.boolean(),
    created_at: z.string().datetime(),
    updated_at: z.string().datetime(),
  })
  .passthrough();

export const roleSchema = z
  .object({ name: z.string(), description: z.string(), source: z.enum(['config', 'api']), permissions: z.array(z.string()) })
  .passthrough();

export const auditEntrySchema = z
  .object({
    id: z.number().int(),
    created_at: z.string().datetime(),
    actor_id: z.string().nullable(),
    actor_kind: z.string(),
    action: z.string(),
    target_type: z.string().nullable(),
    target_id: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.unknown()),
  })
  .passthrough();
