import { parseStoredEgress, type EgressPolicy } from '../net/egress-policy.js';
import type { Sql } from './client.js';

// The workspace's egress policy (column workspaces.egress) and what a worker
// needs to know about a task's owner and workspace before it starts a sandbox.

export async function setWorkspaceEgress(sql: Sql, workspaceId: string, egress: EgressPolicy): Promise<void> {
  await sql`update workspaces set egress = ${sql.json(egress as never)}, updated_at = now() where id = ${workspaceId}`;
}

export async function workspaceEgress(sql: Sql, workspaceIds: readonly string[]): Promise<Map<string, EgressPolicy>> {
  if (workspaceIds.length === 0) return new Map();
  const rows = await sql<{ id: string; egress: unknown }[]>`
    select id, egress from workspaces where id = any(${workspaceIds as string[]}::uuid[])`;
  return new Map(rows.map((row) => [row.id, parseStoredEgress(row.egress)]));
}

export interface TaskRunPolicy {
  /** The owner's role; decides default budgets. */
  ownerRole: string;
  egress: EgressPolicy;
}

/** Null when the task or its workspace is gone. */
export async function taskRunPolicy(sql: Sql, taskId: string): Promise<TaskRunPolicy | null> {
  const [row] = await sql<{ role: string; egress: unknown }[]>`
    select u.role, w.egress from tasks t
    join users u on u.id = t.owner_id
    join workspaces w on w.id = t.workspace_id
    where t.id = ${taskId}`;
  return row ? { ownerRole: row.role, egress: parseStoredEgress(row.egress) } : null;
}
