import type { TaskRow } from '../db/tasks.js';
import type { WorkspaceSecretMeta } from '../db/workspace-secrets.js';
import type { WorkspaceRow } from '../db/workspaces.js';
import { parseStoredEgress } from '../net/egress-policy.js';

export interface WorkspacePolicyView {
  anthropicKey?: WorkspaceSecretMeta | null;
}

/** The workspace as the API shows it; its Anthropic key only ever as `{set, masked, key_id}`. */
export function workspaceJson(w: WorkspaceRow, policy: WorkspacePolicyView = {}) {
  const key = policy.anthropicKey ?? null;
  return {
    id: w.id,
    name: w.name,
    source: w.source,
    egress: parseStoredEgress(w.egress),
    anthropic_key: { set: key !== null, masked: key?.masked ?? null, key_id: key?.key_id ?? null },
    created_at: w.created_at,
    updated_at: w.updated_at,
  };
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
    webhook_url: t.webhook_url,
    cancel_requested: t.cancel_requested_at !== null,
    created_at: t.created_at,
    started_at: t.started_at,
    finished_at: t.finished_at,
  };
}
