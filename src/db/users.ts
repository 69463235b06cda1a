import type { Sql } from './client.js';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  role: string;
  disabled: boolean;
  created_at: Date;
}

export async function insertUser(sql: Sql, u: { email: string; passwordHash: string; role: string }): Promise<UserRow> {
  const [row] = await sql<UserRow[]>`
    insert into users (email, password_hash, role) values (${u.email}, ${u.passwordHash}, ${u.role})
    returning id, email, password_hash, role, disabled, created_at`;
  return row as UserRow;
}

export async function findUserByEmail(sql: Sql, email: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    select id, email, password_hash, role, disabled, created_at from users where lower(email) = lower(${email})`;
  return row;
}

export async function findUserById(sql: Sql, id: string): Promise<UserRow | undefined> {
  const [row] = await sql<UserRow[]>`
    select id, email, password_hash, role, disabled, created_at from users where id = ${id}`;
  return row;
}
