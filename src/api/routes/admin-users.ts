import type { Context } from 'hono';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { hashPassword } from '../../auth/password.js';
import { findAdminUser, insertUserWithOptionalPassword, listUsers, markUserDeleted, updateUserAccess, type AdminUserRow } from '../../db/admin-users.js';
import { roleExists } from '../../db/roles.js';
import { badRequest, conflict, notFound, unprocessable } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { adminUserSchema, pageOf } from '../openapi/schemas.js';
import { decodePageCursor, nextCursor } from '../page-cursor.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { auditRequest } from '../audit-request.js';
import { requireRoleWithinOwn } from './grant-guard.js';

/** The role whose last enabled holder cannot be demoted or disabled through the API. */
const ADMIN_ROLE = 'admin';

/** OFFSET reads every row it skips: past this many, a client pages with next_cursor. */
const MAX_OFFSET = 10_000;

const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
    offset: z.coerce
      .number()
      .int()
      .min(0)
      .max(MAX_OFFSET, `offset: at most ${MAX_OFFSET}; page with cursor=<next_cursor> instead`)
      .optional()
      .describe('Deprecated: page with cursor'),
    role: z.string().max(64).optional(),
  })
  .strict();

const createBody = z
  .object({
    email: z.string().email().max(320),
    password: z.string().min(8).max(1024).optional().describe('Absent: OAuth2 login only'),
    role: z.string().min(1).max(64).default('user'),
  })
  .strict();

const patchBody = z
  .object({ role: z.string().min(1).max(64).optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((b) => b.role !== undefined || b.disabled !== undefined, 'send role and/or disabled')
  .describe('role and/or disabled');

export const adminUserJson = (u: AdminUserRow) => ({
  id: u.id,
  email: u.email,
  role: u.role,
  disabled: u.disabled,
  has_password: u.has_password,
  created_at: u.created_at,
  updated_at: u.updated_at,
});

/** /api/v1/admin/users (user:manage): list, create, read, change a user's role or disabled state, and delete a user. */
export function adminUserRoutes(identity: Identity): RouteDef[] {
  const { sql, logger } = identity.resources;
  const knownRole = async (role: string) => identity.rbac.isConfigRole(role) || (await roleExists(sql, role));
  const audit = (c: Context<AuthEnv>, action: string, targetId: string, details: Record<string, unknown>) =>
    auditRequest(c, identity, { action, targetType: 'user', targetId, details });

  const PATH = '/api/v1/admin/users';
  const tag = 'admin';
  const access = need('user:manage');
  const escalation = err(403, 'Permission escalation refused: the role grants a permission the caller does not hold');
  const unknownRole = err(422, 'Unknown role');

  return [
    defineRoute({ method: 'GET', path: PATH, summary: 'List users', tag, access, query: listQuery, responses: [ok(pageOf(adminUserSchema))] }, async (c, input) => {
      const q = input.query();
      if (q.cursor !== undefined && q.offset !== undefined) throw badRequest('send cursor or offset, not both: cursor=<next_cursor> pages on from the previous page');
      const rows = await listUsers(sql, { ...q, cursor: q.cursor ? decodePageCursor(q.cursor) : undefined, limit: q.limit + 1 });
      return c.json({ items: rows.slice(0, q.limit).map(adminUserJson), next_cursor: nextCursor(rows, q.limit) });
    }),
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Create a user',
        tag,
        access,
        body: createBody,
        responses: [ok(adminUserSchema, 'Created', 201), escalation, err(409, 'Email already used'), unknownRole],
      },
      async (c, input) => {
        const body = await input.body();
        if (!(await knownRole(body.role))) throw unprocessable(`role ${body.role} does not exist (rbac.roles or PUT /api/v1/admin/roles/${body.role})`);
        await requireRoleWithinOwn(identity, c.get('principal'), body.role);
        const user = await insertUserWithOptionalPassword(sql, {
          email: body.email,
          passwordHash: body.password ? await hashPassword(body.password) : null,
          role: body.role,
        }).catch((err: { code?: string }) => {
          if (err.code === '23505') throw conflict(`a user with email ${body.email} already exists`);
          throw err;
        });
        await audit(c, 'user_created', user.id, { email: user.email, role: user.role });
        logger.info({ action: 'user_created', user_id: user.id, role: user.role }, 'user created by an admin');
        const row = await findAdminUser(sql, user.id);
        return c.json(adminUserJson(row as AdminUserRow), 201);
      },
    ),
    defineRoute({ method: 'GET', path: `${PATH}/:id`, summary: 'Get a user', tag, access, responses: [ok(adminUserSchema)] }, async (c) => {
      const row = await findAdminUser(sql, uuidParam(c, 'user'));
      if (!row) throw notFound('user');
      return c.json(adminUserJson(row));
    }),
    defineRoute(
      {
        method: 'PATCH',
        path: `${PATH}/:id`,
        summary: "Change a user's role or disable them (disabling ends their sessions)",
        tag,
        access,
        body: patchBody,
        responses: [ok(adminUserSchema), escalation, err(409, 'Would leave no enabled admin'), unknownRole],
      },
      async (c, input) => {
        const id = uuidParam(c, 'user');
        const body = await input.body();
        if (body.role !== undefined && !(await knownRole(body.role))) {
          throw unprocessable(`role ${body.role} does not exist (rbac.roles or PUT /api/v1/admin/roles/${body.role})`);
        }
        if (body.role !== undefined) await requireRoleWithinOwn(identity, c.get('principal'), body.role);
        const outcome = await updateUserAccess(sql, id, body, ADMIN_ROLE);
        if (outcome.kind === 'missing') throw notFound('user');
        if (outcome.kind === 'last_admin') throw conflict('this is the last enabled admin: make another user admin first');
        const { before, after } = outcome;
        // Disabling ends every login and invalidates the user; any other change only invalidates.
        if (after.disabled && !before.disabled) await identity.sessions.revokeUser(id, 'disabled');
        else await identity.state.invalidateUser(id);
        if (before.role !== after.role) await audit(c, 'user_role_changed', id, { from: before.role, to: after.role });
        if (before.disabled !== after.disabled) await audit(c, after.disabled ? 'user_disabled' : 'user_enabled', id, {});
        logger.info({ action: 'user_access_changed', user_id: id, role: after.role, disabled: after.disabled }, 'user access changed');
        return c.json(adminUserJson(after));
      },
    ),
    defineRoute(
      {
        method: 'DELETE',
        path: `${PATH}/:id`,
        summary: "Delete a user: their logins end at once, their queued and running tasks are cancelled, and their workspaces, tasks and events are removed in batches in the background",
        tag,
        access,
        responses: [noContent('Deleted'), err(409, 'The last enabled admin')],
      },
      async (c) => {
        const id = uuidParam(c, 'user');
        const outcome = await markUserDeleted(sql, id, ADMIN_ROLE);
        if (outcome.kind === 'missing') throw notFound('user');
        if (outcome.kind === 'last_admin') throw conflict('this is the last enabled admin: make another user admin first');
        await identity.sessions.revokeUser(id, 'deleted');
        await audit(c, 'user_deleted', id, { email: outcome.user.email, role: outcome.user.role });
        logger.info({ action: 'user_deleted', user_id: id }, 'user deleted by an admin; the purger removes their data');
        return c.body(null, 204);
      },
    ),
  ];
}
