import type { TaskRow } from '../db/tasks.js';
import type { WorkspaceRow } from '../db/workspaces.js';

export function workspaceJson(w: WorkspaceRow) {
  return { id: w.id, name: w.name, source: w.source, created_at: w.created_at, updated_at: w.updated_at };
}

/** The task as the API shows it (DESIGN.md): no owner id, no diff (that has its own endpoint). */
export function taskJson(t: TaskRow) {
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
    created_at: t.created_at,
    started_at: t.started_at,
    finished_at: t.finished_at,
  };
}
