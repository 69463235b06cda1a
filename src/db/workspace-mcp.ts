import type { SealedSecret } from '../crypto/secret-box.js';
import type { StoredMcpServer } from '../domain/mcp-servers.js';
import type { Queryable } from './client.js';

// A workspace's MCP servers: the public list in workspaces.mcp_servers and, when any server has an env or
// header value, all those values sealed as one document in workspace_mcp_secrets. Both change together,
// in the caller's transaction, so a list is never stored without the secrets it names (or the reverse).

/** Replaces the workspace's servers and their sealed values; `sealed` null removes any stored values. */
export async function saveWorkspaceMcp(tx: Queryable, workspaceId: string, servers: readonly StoredMcpServer[], sealed: SealedSecret | null): Promise<void> {
  await tx`update workspaces set mcp_servers = ${tx.json(servers as never)}, updated_at = now() where id = ${workspaceId}`;
  if (sealed === null) {
    await tx`delete from workspace_mcp_secrets where workspace_id = ${workspaceId}`;
    return;
  }
  await tx`
    insert into workspace_mcp_secrets (workspace_id, key_id, nonce, ciphertext, tag)
    values (${workspaceId}, ${sealed.keyId}, ${sealed.nonce}, ${sealed.ciphertext}, ${sealed.tag})
    on conflict (workspace_id) do update set
      key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, tag = excluded.tag, updated_at = now()`;
}
