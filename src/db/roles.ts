import type { Sql } from './client.js';

export interface UserState {
  role: string;
  email: string;
  disabled: boolean;
}

export interface RoleRow {
  role_name: string;
  description: string;
  source: 'config' | 'api';
  permissions: string[];
  created_at: Date;
  updated_at: Date;
}

export async function findUserState(sql: Sql, userId: string): Promise<UserState | undefined> {
  const [row] = await sql<UserState[]>`select role, email, disabled from users where id = ${userId}`;
  return row;
}

/** Writes the config's roles (source 'config'), replacing their permissions; roles made through the API stay. */
export async function syncConfigRoles(sql: Sql, roles: Record<string, { permissions: string[] }>): Promise<void> {
  await sql.begin(async (tx) => {
    for (const [name, role] of Object.entries(roles)) {
      await tx`
        insert into user_roles (role_name, source) values (${name}, 'config')
        on conflict (role_name) do update set source = 'config', updated_at = now()
        where user_roles.source <> 'config'`;
      await tx`delete from role_permissions where role_name = ${name} and permission <> all(${role.permissions}::text[])`;
      if (role.permissions.length > 0) {
        await tx`
          insert into role_permissions (role_name, permission)
          select ${name}, unnest(${role.permissions}::text[]) on conflict do nothing`;
      }
    }
  });
}

export async function listRoles(sql: Sql): Promise<RoleRow[]> {
  return sql<RoleRow[]>`
    select r.role_name, r.description, r.source, r.created_at, r.updated_at,
      coalesce(array_agg(p.permission order by p.permission) filter (where p.permission is not null), '{}') as permissions
    from user_roles r left join role_permissions p on p.role_name = r.role_name
    group by r.role_name order by r.role_name`;
}

export async function findRole(sql: Sql, name: string): Promise<RoleRow | undefined> {
  const [row] = await sql<RoleRow[]>`
    select r.role_name, r.description, r.source, r.created_at, r.updated_at,
      coalesce(array_agg(p.permission order by p.permission) filter (where p.permission is not null), '{}') as permissions
    from user_roles r left join role_permissions p on p.role_name = r.role_name
    where r.role_name = ${name} group by r.role_name`;
  return row;
}

/** Creates or replaces a role made through the API; never touches a config role (the caller checks). */
export async function upsertApiRole(sql: Sql, name: string, description: string, permissions: string[]): Promise<'created' | 'updated'> {
  return sql.begin(async (tx) => {
    const [row] = await tx<{ inserted: boolean }[]>`
      insert into user_roles (role_name, description, source) values (${name}, ${description}, 'api')
      on conflict (role_name) do update set description = excluded.description, updated_at = now()
      returning (xmax = 0) as inserted`;
    await tx`delete from role_permissions where role_name = ${name}`;
    if (permissions.length > 0) {
      await tx`insert into role_permissions (role_name, permission) select ${name}, unnest(${permissions}::text[])`;
    }
    return row?.inserted ? ('created' as const) : ('updated' as const);
  });
}

/** Deletes an API-made role nobody holds. */
export async function deleteApiRole(sql: Sql, name: string): Promise<'deleted' | 'missing' | 'in_use'> {
  return sql.begin(async (tx) => {
    const [role] = await tx`select 1 from user_roles where role_name = ${name} and source = 'api' for update`;
    if (!role) return 'missing' as const;
    const [holder] = await tx`select 1 from users where role = ${name} limit 1`;
    if (holder) return 'in_use' as const;
    await tx`delete from user_roles where role_name = ${name}`;
    return 'deleted' as const;
  });
}

export async function roleExists(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql`select 1 from user_roles where role_name = ${name}`;
  return row !== undefined;
}
