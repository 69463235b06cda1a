import type { Sql } from './client.js';

export interface ApiKeyRow {
  id: string;
  user_id: string;
  name: string;
  key_prefix: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** A key found by its hash together with its owner's current state. */
export interface ApiKeyPrincipalRow {
  id: string;
  user_id: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  role: string;
  email: string;
  disabled: boolean;
}

const COLUMNS = 'id, user_id, name, key_prefix, scopes, created_at, expires_at, last_used_at, revoked_at';

export async function insertApiKey(
  sql: Sql,
  k: { userId: string; name: string; keyPrefix: string; keyHash: string; scopes: string[]; expiresAt: Date | null },
): Promise<ApiKeyRow> {
  const [row] = await sql<ApiKeyRow[]>`
    insert into api_keys (user_id, name, key_prefix, key_hash, scopes, expires_at)
    values (${k.userId}, ${k.name}, ${k.keyPrefix}, ${k.keyHash}, ${k.scopes}::text[], ${k.expiresAt})
    returning ${sql.unsafe(COLUMNS)}`;
  return row as ApiKeyRow;
}

export async function countActiveApiKeys(sql: Sql, userId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from api_keys
    where user_id = ${userId} and revoked_at is null and (expires_at is null or expires_at > now())`;
  return row?.n ?? 0;
}

/** A key and its user's state, by the key's hash (ApiKeys caches what it finds; revocation drops it). */
export async function findApiKeyByHash(sql: Sql, keyHash: string): Promise<ApiKeyPrincipalRow | undefined> {
  const [row] = await sql<ApiKeyPrincipalRow[]>`
    select k.id, k.user_id, k.scopes, k.expires_at, k.revoked_at, u.role, u.email, u.disabled
    from api_keys k join users u on u.id = k.user_id where k.key_hash = ${keyHash}`;
  return row;
}

export async function listApiKeys(sql: Sql, userId: string, includeRevoked: boolean): Promise<ApiKeyRow[]> {
  return sql<ApiKeyRow[]>`
    select ${sql.unsafe(COLUMNS)} from api_keys
    where user_id = ${userId} and (${includeRevoked} or revoked_at is null)
    order by created_at desc, id desc`;
}

/** Scoped by owner: another tenant's key id finds nothing. */
export async function revokeApiKey(sql: Sql, userId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await sql<ApiKeyRow[]>`
    update api_keys set revoked_at = now()
    where id = ${id} and user_id = ${userId} and revoked_at is null
    returning ${sql.unsafe(COLUMNS)}`;
  return row;
}

export async function touchApiKey(sql: Sql, id: string): Promise<void> {
  await sql`update api_keys set last_used_at = now() where id = ${id}`;
}
