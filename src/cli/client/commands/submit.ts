import { randomUUID } from 'node:crypto';
import type { ClientContext } from '../context.js';
import { ClientError, EXIT } from '../errors.js';
import { ApiResponseError, ConnectionError } from '../http.js';
import { readAll } from '../prompt.js';
import { createRenderer } from '../render/renderer.js';
import type { TaskJson } from '../types.js';
import { resolveWorkspaceId } from '../workspaces.js';
import { followTask } from './follow.js';

export interface SubmitFlags {
  workspace: string;
  follow?: boolean;
  json?: boolean;
  model?: string;
  maxTurns?: number;
  timeout?: number;
  maxBudgetUsd?: number;
  permissionMode?: string;
  allowedTools?: string[];
  disallowedTools?: string[];
  appendSystemPrompt?: string;
  resumeFrom?: string;
  /** --push / --no-push; undefined: the workspace's default. */
  push?: boolean;
}

const ATTEMPTS = 3;

/** `aicli-web submit`: creates a task; with --follow, shows it live and exits by its outcome. */
export async function submitCommand(ctx: ClientContext, words: string[], flags: SubmitFlags): Promise<number> {
  const prompt = words.length === 1 && words[0] === '-' ? (await readAll(ctx.io.stdin)).trim() : words.join(' ').trim();
  if (!prompt) throw new ClientError('the prompt is empty: aicli-web submit --workspace W "what to do" (or - to read it from stdin)');
  const renderer = flags.follow ? createRenderer(ctx.io, { json: flags.json }) : null;
  let task: TaskJson;
  try {
    renderer?.waiting('submitting');
    const workspaceId = await resolveWorkspaceId(ctx.api, flags.workspace);
    task = await createTask(ctx, { workspace_id: workspaceId, prompt, ...taskOptions(flags) });
  } catch (err) {
    renderer?.close();
    throw err;
  }
  if (!renderer) {
    ctx.io.stdout.write(flags.json ? `${JSON.stringify(task, null, 2)}\n` : `${task.id}\n`);
    return EXIT.ok;
  }
  renderer.task(task);
  return followTask(ctx, task.id, renderer);
}

/** The request fields of the task flags (shared with `schedules create`). */
export function taskOptions(f: Omit<SubmitFlags, 'workspace'>): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: f.model,
    max_turns: f.maxTurns,
    timeout_seconds: f.timeout,
    max_budget_usd: f.maxBudgetUsd,
    permission_mode: f.permissionMode,
    allowed_tools: f.allowedTools,
    disallowed_tools: f.disallowedTools,
    append_system_prompt: f.appendSystemPrompt,
    resume_from: f.resumeFrom,
    push: f.push,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/**
 * POST /api/v1/tasks with one Idempotency-Key for all attempts, so repeating a request whose answer was
 * lost cannot create a second task. A 503 that carries `task_id` means the task is stored and will be
 * queued once Redis is back: that is a submitted task, not a failure.
 */
async function createTask(ctx: ClientContext, body: Record<string, unknown>): Promise<TaskJson> {
  const headers = { 'idempotency-key': randomUUID() };
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.api.request<TaskJson>('POST', '/api/v1/tasks', { body, headers });
    } catch (err) {
      if (err instanceof ApiResponseError && err.status === 503 && typeof err.body?.task_id === 'string') {
        ctx.io.stderr.write(`aicli-web: ${err.message}\n`);
        return { id: err.body.task_id, workspace_id: String(body.workspace_id), status: 'queued', attempt: 0 };
      }
      const again =
        (err instanceof ConnectionError && err.maybeDelivered) || (err instanceof ApiResponseError && [502, 504].includes(err.status));
      if (!again || attempt >= ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}
