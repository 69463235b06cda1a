import type { Sql } from './client.js';
import { CURSOR_CREATED_AT, type KeysetPosition } from './keyset.js';
import type { UserRow } from './users.js';

export interface AdminUserRow {
  id: string;
  email: string;
  role: string;
  disabled: boolean;
  has_password: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, email, role, disabled, password_hash is not null as has_password, created_at, updated_at';

/**
 * A page of users in (created_at, id) order: after `cursor` (keyset, read from its bound), or after
 * `offset` rows (kept for clients of the first API version; it reads every row it skips).
 */
export async function listUsers(
  sql: Sql,
  q: { limit: number; offset?: number; cursor?: KeysetPosition; role?: string },
): Promise<Array<AdminUserRow & { cursor_created_at: string }>> {
  return sql<Array<AdminUserRow & { cursor_created_at: string }>>`
    select ${sql.unsafe(COLUMNS)}, ${sql.unsafe(CURSOR_CREATED_AT)} from users
    where deleted_at is null
      ${q.role !== undefined ? sql`and role = ${q.role}` : sql``}
      ${q.cursor ? sql`and (created_at, id) > (${q.cursor.createdAt}::text::timestamptz, ${q.cursor.id}::uuid)` : sql``}
    order by created_at, id limit ${q.limit} ${q.offset ? sql`offset ${q.offset}` : sql``}`;
}

export async function findAdminUser(sql: Sql, id: string): Promise<AdminUserRow | undefined> {
  const [row] = await sql<AdminUserRow[]>`select ${sql.unsafe(COLUMNS)} from users where id = ${id} and deleted_at is null`;
  return row;
}

export async function insertUserWithOptionalPassword(sql: Sql, u: { email: string; passwordHash: string | null; role: string }): Promise<UserRow> {
  const [row] = await sql<UserRow[]>`
    insert into users (email, password_hash, role) values (${u.email}, ${u.passwordHash}, ${u.role})
    returning id, email, password_hash, role, disabled, created_at`;
  return row as UserRow;
}

/**
 * Changes role and/or disabled. Refuses ('last_admin') to leave no enabled admin-role user, so the
 * system cannot lock itself out through the API.
 */
export async function updateUserAccess(
  sql: Sql,
  id: string,
  patch: { role?: string; disabled?: boolean },
  adminRole: string,
): Promise<{ kind: 'updated'; before: AdminUserRow; after: AdminUserRow } | { kind: 'missing' } | { kind: 'last_admin' }> {
  return sql.begin(async (tx) => {
    // Lock the admins too, so two concurrent demotions cannot both pass the check.
    await tx`select id from users where role = ${adminRole} and not disabled for update`;
    const [before] = await tx<AdminUserRow[]>`select ${tx.unsafe(COLUMNS)} from users where id = ${id} and deleted_at is null for update`;
    if (!before) return { kind: 'missing' } as const;
    const staysAdmin = (patch.role ?? before.role) === adminRole && !(patch.disabled ?? before.disabled);
    if (before.role === adminRole && !before.disabled && !staysAdmin) {
      const [other] = await tx`select 1 from users where role = ${adminRole} and not disabled and id <> ${id} limit 1`;
      if (!other) return { kind: 'last_admin' } as const;
    }
    const [after] = await tx<AdminUserRow[]>`
      update users set role = coalesce(${patch.role ?? null}, role), disabled = coalesce(${patch.disabled ?? null}::boolean, disabled),
        updated_at = now()
      where id = ${id} returning ${tx.unsafe(COLUMNS)}`;
    return { kind: 'updated', before, after: after as AdminUserRow } as const;
  });
}

/**
 * Marks a user deleted: disabled at once (so no login, token or key of theirs works), every workspace of
 * theirs marked deleted and its stored keys gone. The purger (src/tasks/deletion/) cancels what is still
 * queued or running, removes their tasks and events in batches, then the rows. Refuses ('last_admin') to
 * delete the last enabled admin, as updateUserAccess does.
 */
export async function markUserDeleted(sql: Sql, id: string, adminRole: string): Promise<{ kind: 'deleted'; user: AdminUserRow } | { kind: 'missing' } | { kind: 'last_admin' }> {
  return sql.begin(async (tx) => {
    await tx`select id from users where role = ${adminRole} and not disabled for update`;
    const [user] = await tx<AdminUserRow[]>`select ${tx.unsafe(COLUMNS)} from users where id = ${id} and deleted_at is null for update`;
    if (!user) return { kind: 'missing' } as const;
    if (user.role === adminRole && !user.disabled) {
      const [other] = await tx`select 1 from users where role = ${adminRole} and not disabled and id <> ${id} limit 1`;
      if (!other) return { kind: 'last_admin' } as const;
    }
    await tx`update users set disabled = true, deleted_at = now(), updated_at = now() where id = ${id}`;
    const workspaces = await tx<{ id: string }[]>`
      update workspaces set deleted_at = now(), updated_at = now() where owner_id = ${id} and deleted_at is null returning id`;
    if (workspaces.length > 0) {
      await tx`delete from workspace_secrets where workspace_id in ${tx(workspaces.map((w) => w.id))}`;
      await tx`delete from workspace_mcp_secrets where workspace_id in ${tx(workspaces.map((w) => w.id))}`;
    }
    return { kind: 'deleted', user } as const;
  });
}
