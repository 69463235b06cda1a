import type { Sql } from './client.js';
import type { UserRow } from './users.js';

const USER_COLUMNS = 'u.id, u.email, u.password_hash, u.role, u.disabled, u.created_at';

export async function findUserByIdentity(sql: Sql, provider: string, subject: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    select ${sql.unsafe(USER_COLUMNS)} from user_identities i join users u on u.id = i.user_id
    where i.provider = ${provider} and i.subject = ${subject}`;
  return row;
}

export async function linkIdentity(sql: Sql, i: { provider: string; subject: string; userId: string; email: string | null }): Promise<void> {
  await sql`
    insert into user_identities (provider, subject, user_id, email) values (${i.provider}, ${i.subject}, ${i.userId}, ${i.email})
    on conflict (provider, subject) do update set email = excluded.email, last_login_at = now()`;
}

/** A user created by a first OAuth2 login has no password: only the provider logs them in. */
export async function insertOAuthUser(sql: Sql, u: { email: string; role: string }): Promise<UserRow> {
  const [row] = await sql<UserRow[]>`
    insert into users (email, password_hash, role) values (${u.email}, null, ${u.role})
    returning id, email, password_hash, role, disabled, created_at`;
  return row as UserRow;
}
