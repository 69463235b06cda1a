import type { PushTarget } from '../domain/branch-push.js';
import { NO_EGRESS, type EgressPolicy } from '../net/egress-policy.js';
import type { Queryable, Sql } from './client.js';

export type WorkspaceSource = { type: 'empty' } | { type: 'git'; url: string; ref?: string };

export interface WorkspaceRow {
  id: string;
  owner_id: string;
  name: string;
  source: WorkspaceSource;
  /** The stored egress policy, as Postgres holds it (parseStoredEgress reads it). */
  egress: unknown;
  /** Where succeeded tasks' work is pushed (branch push); null: nowhere. */
  push: PushTarget | null;
  /** The public MCP server list (secret values only masked; parseStoredMcpServers reads it). */
  mcp_servers: unknown;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, owner_id, name, source, egress, push, mcp_servers, created_at, updated_at';

// Every query takes the owner: another tenant's id simply finds nothing (404), never a 403 that leaks existence.
// A deleted workspace (deleted_at set, its data not yet purged) is found by none of them.

/** One statement, egress included: a workspace is never stored without the policy it was asked with. */
export async function insertWorkspace(
  sql: Queryable,
  w: { ownerId: string; name: string; source: WorkspaceSource; egress?: EgressPolicy; push?: PushTarget | null },
): Promise<WorkspaceRow> {
  const [row] = await sql<WorkspaceRow[]>`
    insert into workspaces (owner_id, name, source, egress, push)
    values (${w.ownerId}, ${w.name}, ${sql.json(w.source)}, ${sql.json((w.egress ?? NO_EGRESS) as never)}, ${w.push ? sql.json(w.push as never) : null})
    returning ${sql.unsafe(COLUMNS)}`;
  return row as WorkspaceRow;
}

export async function findWorkspace(sql: Sql, ownerId: string, id: string): Promise<WorkspaceRow | undefined> {
  const [row] = await sql<WorkspaceRow[]>`
    select ${sql.unsafe(COLUMNS)} from workspaces where id = ${id} and owner_id = ${ownerId} and deleted_at is null`;
  return row;
}

export async function listWorkspaces(sql: Sql, ownerId: string, limit: number): Promise<WorkspaceRow[]> {
  return sql<WorkspaceRow[]>`
    select ${sql.unsafe(COLUMNS)} from workspaces where owner_id = ${ownerId} and deleted_at is null
    order by created_at desc, id desc limit ${limit}`;
}

export async function updateWorkspace(
  sql: Queryable,
  ownerId: string,
  id: string,
  /** push: undefined keeps it, null removes it. */
  patch: { name?: string; source?: WorkspaceSource; egress?: EgressPolicy; push?: PushTarget | null },
): Promise<WorkspaceRow | undefined> {
  const [row] = await sql<WorkspaceRow[]>`
    update workspaces set
      name = coalesce(${patch.name ?? null}, name),
      source = coalesce(${patch.source ? sql.json(patch.source) : null}::jsonb, source),
      egress = coalesce(${patch.egress ? sql.json(patch.egress as never) : null}::jsonb, egress),
      push = case when ${patch.push !== undefined} then ${patch.push ? sql.json(patch.push as never) : null}::jsonb else push end,
      updated_at = now()
    where id = ${id} and owner_id = ${ownerId} and deleted_at is null
    returning ${sql.unsafe(COLUMNS)}`;
  return row;
}

/**
 * Marks the workspace deleted unless a task of it is still queued or running ('busy'). From then on no
 * query here finds it and its stored Anthropic key and MCP secrets are gone; the purger (src/tasks/deletion/) removes its
 * tasks and events in batches and then the row. The row lock makes a submission racing the delete wait
 * for it; one that still slips in is cancelled by the purger.
 */
export async function deleteWorkspace(sql: Sql, ownerId: string, id: string): Promise<'deleted' | 'missing' | 'busy'> {
  return sql.begin(async (tx) => {
    const [ws] = await tx`select id from workspaces where id = ${id} and owner_id = ${ownerId} and deleted_at is null for update`;
    if (!ws) return 'missing' as const;
    const [active] = await tx`select 1 from tasks where workspace_id = ${id} and status in ('queued', 'running') limit 1`;
    if (active) return 'busy' as const;
    await tx`update workspaces set deleted_at = now(), updated_at = now() where id = ${id}`;
    await tx`delete from workspace_secrets where workspace_id = ${id}`;
    await tx`delete from workspace_mcp_secrets where workspace_id = ${id}`;
    return 'deleted' as const;
  });
}
