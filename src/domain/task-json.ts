import type { TaskPush } from './branch-push.js';
import type { TaskStatus } from './task-status.js';

/** The stored task's fields that its JSON shows; a database row of the task satisfies it. */
export interface TaskRecord {
  id: string;
  workspace_id: string;
  status: TaskStatus;
  attempt: number;
  prompt: string;
  options: object;
  metadata: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  error_code: string | null;
  error_message: string | null;
  attempt_errors: Array<{ attempt: number; code: string; message: string; at: string }>;
  exit_code: number | null;
  usage: Record<string, unknown> | null;
  webhook_url: string | null;
  cancel_requested_at: Date | null;
  /** The branch push's state; null until the pusher or a retry writes it. */
  push: TaskPush | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/**
 * The task as clients see it, from the API and in the webhook that reports its end: no owner id, no diff
 * (that has its own endpoint).
 */
export function taskJson(t: TaskRecord) {
  return {
    id: t.id,
    workspace_id: t.workspace_id,
    status: t.status,
    attempt: t.attempt,
    prompt: t.prompt,
    options: t.options,
    metadata: t.metadata,
    result: t.result,
    error: t.error_code ? { code: t.error_code, message: t.error_message } : null,
    attempt_errors: t.attempt_errors,
    exit_code: t.exit_code,
    usage: t.usage,
    webhook_url: t.webhook_url,
    cancel_requested: t.cancel_requested_at !== null,
    push: taskPushJson(t),
    created_at: t.created_at,
    started_at: t.started_at,
    finished_at: t.finished_at,
  };
}

/** null when the task did not ask for a push; `pending` until the pusher has tried (or while a retry waits). */
function taskPushJson(t: TaskRecord): TaskPush | null {
  if (t.push) return t.push;
  const asked = (t.options as { push?: boolean }).push === true;
  if (!asked) return null;
  return { state: 'pending', branch: null, commit: null, remote: null, compare_url: null, error: null, tries: 0, pushed_at: null };
}
