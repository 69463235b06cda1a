import { parseStoredEgress, type EgressPolicy } from '../net/egress-policy.js';
import type { SealedSecret } from '../crypto/secret-box.js';
import type { Sql } from './client.js';
import type { WorkspaceSecretKind } from './workspace-secrets.js';

// What a worker needs to know about a task's owner and workspace before it starts a sandbox.

export interface TaskRunPolicy {
  /** The owner's role; decides default budgets. */
  ownerRole: string;
  egress: EgressPolicy;
  /** The workspace's sealed Anthropic key, for the worker to open; null when it has none. */
  anthropicKey: SealedSecret | null;
}

/** Everything an attempt's plan reads, in one query. Null when the task or its workspace is gone. */
export async function taskRunPolicy(sql: Sql, taskId: string): Promise<TaskRunPolicy | null> {
  const kind: WorkspaceSecretKind = 'anthropic_api_key';
  const [row] = await sql<{ role: string; egress: unknown; key_id: string | null; nonce: Buffer | null; ciphertext: Buffer | null; tag: Buffer | null }[]>`
    select u.role, w.egress, s.key_id, s.nonce, s.ciphertext, s.tag from tasks t
    join users u on u.id = t.owner_id
    join workspaces w on w.id = t.workspace_id
    left join workspace_secrets s on s.workspace_id = w.id and s.kind = ${kind}
    where t.id = ${taskId}`;
  if (!row) return null;
  const anthropicKey = row.key_id && row.nonce && row.ciphertext && row.tag ? { keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, tag: row.tag } : null;
  return { ownerRole: row.role, egress: parseStoredEgress(row.egress), anthropicKey };
}
