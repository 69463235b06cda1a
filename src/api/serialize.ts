import type { WorkspaceSecretMeta } from '../db/workspace-secrets.js';
import type { WorkspaceRow } from '../db/workspaces.js';
import { parseStoredMcpServers } from '../domain/mcp-servers.js';
import { parseStoredEgress } from '../net/egress-policy.js';

export interface WorkspacePolicyView {
  anthropicKey?: WorkspaceSecretMeta | null;
  gitCredential?: WorkspaceSecretMeta | null;
}

/** The workspace as the API shows it; its Anthropic key only ever as `{set, masked, key_id}`, MCP secret values only masked. */
export function workspaceJson(w: WorkspaceRow, policy: WorkspacePolicyView = {}) {
  const key = policy.anthropicKey ?? null;
  return {
    id: w.id,
    name: w.name,
    source: w.source,
    egress: parseStoredEgress(w.egress),
    mcp_servers: parseStoredMcpServers(w.mcp_servers),
    anthropic_key: { set: key !== null, masked: key?.masked ?? null, key_id: key?.key_id ?? null },
    push: w.push ? { ...w.push, credential: { set: Boolean(policy.gitCredential), masked: policy.gitCredential?.masked ?? null } } : null,
    created_at: w.created_at,
    updated_at: w.updated_at,
  };
}
