import type { Sql } from './client.js';

export type AuditActorKind = 'user' | 'api_key' | 'anonymous' | 'cli';

export interface AuditEntry {
  actorId: string | null;
  actorKind: AuditActorKind;
  /** e.g. login, login_failed, logout, refresh_token_reuse, oauth_login, api_key_created, api_key_revoked, user_role_changed. */
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  ip?: string | null;
  requestId?: string | null;
  /** Never secrets: no passwords, tokens or keys. */
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: string;
  created_at: Date;
  actor_id: string | null;
  actor_kind: AuditActorKind;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

export async function insertAudit(sql: Sql, e: AuditEntry): Promise<void> {
  await sql`
    insert into audit_log (actor_id, actor_kind, action, target_type, target_id, ip, request_id, details)
    values (${e.actorId}, ${e.actorKind}, ${e.action}, ${e.targetType ?? null}, ${e.targetId ?? null},
            ${e.ip ?? null}, ${e.requestId ?? null}, ${sql.json((e.details ?? {}) as never)})`;
}

/**
 * Newest first; `beforeId` pages backwards. Each filter is in the statement only when given (not as
 * `$1 is null or ...`, which a prepared statement's generic plan cannot match to an index), so a page
 * reads the primary key or the (action, id) / (actor_id, id) index from where it starts (migration 0008).
 * The order names the table's column: the bare `id` would be the text the select list makes of it.
 */
export async function listAudit(
  sql: Sql,
  q: { limit: number; beforeId?: string; action?: string; actorId?: string },
): Promise<AuditRow[]> {
  return sql<AuditRow[]>`
    select id::text, created_at, actor_id, actor_kind, action, target_type, target_id, ip, request_id, details
    from audit_log
    where true
      ${q.beforeId !== undefined ? sql`and id < ${q.beforeId}::bigint` : sql``}
      ${q.action !== undefined ? sql`and action = ${q.action}` : sql``}
      ${q.actorId !== undefined ? sql`and actor_id = ${q.actorId}::uuid` : sql``}
    order by audit_log.id desc limit ${q.limit}`;
}
