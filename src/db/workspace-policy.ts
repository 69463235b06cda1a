import { parseStoredEgress, type EgressPolicy } from '../net/egress-policy.js';
import type { SealedSecret } from '../crypto/secret-box.js';
import { parseStoredMcpServers, type StoredMcpServer } from '../domain/mcp-servers.js';
import type { Sql } from './client.js';
import type { WorkspaceSecretKind } from './workspace-secrets.js';

// What a worker needs to know about a task's owner and workspace before it starts a sandbox.

export interface TaskRunPolicy {
  /** The owner's role; decides default budgets. */
  ownerRole: string;
  egress: EgressPolicy;
  /** The workspace's sealed Anthropic key, for the worker to open; null when it has none. */
  anthropicKey: SealedSecret | null;
  /** The workspace's MCP servers (values masked) and their sealed values (null when they have none). */
  mcpServers: StoredMcpServer[];
  mcpSecrets: SealedSecret | null;
}

type SealedColumns = { key_id: string | null; nonce: Buffer | null; ciphertext: Buffer | null; tag: Buffer | null };
type McpColumns = { mcp_key_id: string | null; mcp_nonce: Buffer | null; mcp_ciphertext: Buffer | null; mcp_tag: Buffer | null };

function sealed(c: SealedColumns): SealedSecret | null {
  return c.key_id && c.nonce && c.ciphertext && c.tag ? { keyId: c.key_id, nonce: c.nonce, ciphertext: c.ciphertext, tag: c.tag } : null;
}

/** Everything an attempt's plan reads, in one query. Null when the task or its workspace is gone. */
export async function taskRunPolicy(sql: Sql, taskId: string): Promise<TaskRunPolicy | null> {
  const kind: WorkspaceSecretKind = 'anthropic_api_key';
  const [row] = await sql<(SealedColumns & McpColumns & { role: string; egress: unknown; mcp_servers: unknown })[]>`
    select u.role, w.egress, w.mcp_servers, s.key_id, s.nonce, s.ciphertext, s.tag,
      m.key_id as mcp_key_id, m.nonce as mcp_nonce, m.ciphertext as mcp_ciphertext, m.tag as mcp_tag
    from tasks t
    join users u on u.id = t.owner_id
    join workspaces w on w.id = t.workspace_id
    left join workspace_secrets s on s.workspace_id = w.id and s.kind = ${kind}
    left join workspace_mcp_secrets m on m.workspace_id = w.id
    where t.id = ${taskId}`;
  if (!row) return null;
  return {
    ownerRole: row.role,
    egress: parseStoredEgress(row.egress),
    anthropicKey: sealed(row),
    mcpServers: parseStoredMcpServers(row.mcp_servers),
    mcpSecrets: sealed({ key_id: row.mcp_key_id, nonce: row.mcp_nonce, ciphertext: row.mcp_ciphertext, tag: row.mcp_tag }),
  };
}
