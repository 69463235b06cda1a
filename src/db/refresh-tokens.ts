import type { Sql } from './client.js';

export interface RefreshTokenRow {
  id: string;
  family_id: string;
  user_id: string;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
}

export type RotateOutcome =
  | { kind: 'rotated'; row: RefreshTokenRow }
  | { kind: 'unknown' }
  | { kind: 'expired' }
  | { kind: 'revoked' }
  /** The token had already been exchanged: its whole family is now revoked. */
  | { kind: 'reused'; familyId: string; userId: string };

export async function insertRefreshToken(
  sql: Sql,
  t: { familyId: string; userId: string; tokenHash: string; ttlMs: number; ip: string | null; userAgent: string | null },
): Promise<void> {
  await sql`
    insert into refresh_tokens (family_id, user_id, token_hash, expires_at, created_ip, user_agent)
    values (${t.familyId}, ${t.userId}, ${t.tokenHash}, now() + ${t.ttlMs} * interval '1 millisecond', ${t.ip}, ${t.userAgent})`;
}

/**
 * Marks the token exchanged and hands back its row, under a row lock so two refreshes with the same
 * token cannot both win. A token presented again after that is reuse: the family is revoked in the same
 * transaction. `issue` inserts the successor inside the transaction, so a failure leaves nothing half done.
 */
export async function rotateRefreshToken(sql: Sql, tokenHash: string, issue: (tx: Sql, row: RefreshTokenRow) => Promise<void>): Promise<RotateOutcome> {
  return sql.begin(async (tx) => {
    const [row] = await tx<RefreshTokenRow[]>`
      select id, family_id, user_id, expires_at, rotated_at, revoked_at from refresh_tokens where token_hash = ${tokenHash} for update`;
    if (!row) return { kind: 'unknown' } as const;
    if (row.revoked_at) return { kind: 'revoked' } as const;
    if (row.rotated_at) {
      await tx`
        update refresh_tokens set revoked_at = now(), revoked_reason = 'reuse'
        where family_id = ${row.family_id} and revoked_at is null`;
      return { kind: 'reused', familyId: row.family_id, userId: row.user_id } as const;
    }
    if (row.expires_at.getTime() <= Date.now()) return { kind: 'expired' } as const;
    await tx`update refresh_tokens set rotated_at = now() where id = ${row.id}`;
    await issue(tx as unknown as Sql, row);
    return { kind: 'rotated', row } as const;
  });
}

/** Revokes the family the token belongs to; answers its id and user, or undefined for an unknown token. */
export async function revokeFamilyOf(sql: Sql, tokenHash: string, reason: string): Promise<{ familyId: string; userId: string } | undefined> {
  const [row] = await sql<{ family_id: string; user_id: string }[]>`
    select family_id, user_id from refresh_tokens where token_hash = ${tokenHash}`;
  if (!row) return undefined;
  await revokeFamily(sql, row.family_id, reason);
  return { familyId: row.family_id, userId: row.user_id };
}

export async function revokeFamily(sql: Sql, familyId: string, reason: string): Promise<void> {
  await sql`update refresh_tokens set revoked_at = now(), revoked_reason = ${reason} where family_id = ${familyId} and revoked_at is null`;
}

/** Revokes every session of a user (disabled account); answers the family ids. */
export async function revokeUserFamilies(sql: Sql, userId: string, reason: string): Promise<string[]> {
  const rows = await sql<{ family_id: string }[]>`
    update refresh_tokens set revoked_at = now(), revoked_reason = ${reason}
    where user_id = ${userId} and revoked_at is null and expires_at > now()
    returning family_id`;
  return [...new Set(rows.map((r) => r.family_id))];
}

/** Housekeeping at login: a user's tokens that expired more than a day ago are of no use, even for reuse detection. */
export async function deleteExpiredRefreshTokens(sql: Sql, userId: string): Promise<void> {
  await sql`delete from refresh_tokens where user_id = ${userId} and expires_at < now() - interval '1 day'`;
}
