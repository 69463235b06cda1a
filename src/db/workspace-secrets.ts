import type { SealedSecret } from '../crypto/secret-box.js';
import type { Sql } from './client.js';

// Sealed per-workspace secrets. Only ciphertext, nonce, tag, the sealing key's
// id and a masked form are stored; the plaintext exists only in the API while
// sealing and in the worker while a task runs.

/** `git_credential`: the push credential, sealed as JSON `{username, password}` (a token is the password). */
export type WorkspaceSecretKind = 'anthropic_api_key' | 'git_credential';

export interface WorkspaceSecretMeta {
  workspace_id: string;
  masked: string;
  key_id: string;
  updated_at: Date;
}

/** The additional data a secret is sealed with: a ciphertext copied to another workspace does not open. */
export function workspaceSecretAad(workspaceId: string, kind: WorkspaceSecretKind): string {
  return `workspace:${workspaceId}:${kind}`;
}

export async function upsertWorkspaceSecret(
  sql: Sql,
  s: { workspaceId: string; kind: WorkspaceSecretKind; sealed: SealedSecret; masked: string },
): Promise<void> {
  await sql`
    insert into workspace_secrets (workspace_id, kind, key_id, nonce, ciphertext, tag, masked)
    values (${s.workspaceId}, ${s.kind}, ${s.sealed.keyId}, ${s.sealed.nonce}, ${s.sealed.ciphertext}, ${s.sealed.tag}, ${s.masked})
    on conflict (workspace_id, kind) do update set
      key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, tag = excluded.tag,
      masked = excluded.masked, updated_at = now()`;
}

/** True when a secret was there to delete. */
export async function deleteWorkspaceSecret(sql: Sql, workspaceId: string, kind: WorkspaceSecretKind): Promise<boolean> {
  const rows = await sql`delete from workspace_secrets where workspace_id = ${workspaceId} and kind = ${kind} returning 1`;
  return rows.length > 0;
}

/** What the API may show about the secrets of these workspaces, by workspace id. */
export async function workspaceSecretMeta(sql: Sql, workspaceIds: readonly string[], kind: WorkspaceSecretKind): Promise<Map<string, WorkspaceSecretMeta>> {
  if (workspaceIds.length === 0) return new Map();
  const rows = await sql<WorkspaceSecretMeta[]>`
    select workspace_id, masked, key_id, updated_at from workspace_secrets
    where kind = ${kind} and workspace_id = any(${workspaceIds as string[]}::uuid[])`;
  return new Map(rows.map((row) => [row.workspace_id, row]));
}
