import type { Context } from 'hono';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { listAudit, type AuditRow } from '../../db/audit.js';
import { deleteApiRole, listRoles, upsertApiRole } from '../../db/roles.js';
import { conflict, notFound } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { auditPageSchema, listedRoleSchema, listOf, roleSchema } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { ROLE_NAME } from '../../config/fields.js';
import { auditRequest } from '../audit-request.js';
import { requireWithinOwn } from './grant-guard.js';

const PERMISSION = /^(\*|[a-z_]+(:([a-z_]+|\*))*)$/;

const putBody = z
  .object({
    description: z.string().max(500).default(''),
    permissions: z.array(z.string().regex(PERMISSION, 'must look like resource:action[:own|:any], with * as a wildcard')).max(200),
  })
  .strict();

const auditQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    before: z.string().regex(/^\d{1,18}$/).optional().describe('next_before of the previous page'),
    action: z.string().max(64).optional(),
    actor_id: z.string().uuid().optional(),
  })
  .strict();

const auditJson = (a: AuditRow) => ({ ...a, id: Number(a.id) });

function roleName(c: Context): string {
  const name = c.req.param('name') ?? '';
  if (!ROLE_NAME.test(name)) throw notFound('role');
  return name;
}

/**
 * /api/v1/admin/roles (role:manage): roles from the config are shown and cannot be changed here (edit
 * rbac.roles); roles made here are stored in user_roles/role_permissions and take effect at once.
 * /api/v1/admin/audit (audit:read): the audit log, newest first.
 */
export function adminRoleRoutes(identity: Identity): RouteDef[] {
  const { sql, logger } = identity.resources;
  const record = (c: Context<AuthEnv>, action: string, name: string, details: Record<string, unknown> = {}) =>
    auditRequest(c, identity, { action, targetType: 'role', targetId: name, details });
  const configOwned = (name: string) => conflict(`role ${name} is defined in the config (rbac.roles.${name}): change it there and restart`);

  const PATH = '/api/v1/admin';
  const tag = 'admin';
  const access = need('role:manage');

  return [
    defineRoute({ method: 'GET', path: `${PATH}/roles`, summary: 'List roles and their permissions', tag, access, responses: [ok(listOf(listedRoleSchema))] }, async (c) => {
      await identity.rbac.ensureSynced();
      const rows = await listRoles(sql);
      return c.json({ items: rows.map((r) => ({ name: r.role_name, description: r.description, source: r.source, permissions: r.permissions, updated_at: r.updated_at })) });
    }),
    defineRoute(
      {
        method: 'PUT',
        path: `${PATH}/roles/:name`,
        summary: 'Create or replace a role (roles from rbac.roles are changed in the config)',
        tag,
        access,
        body: putBody,
        responses: [
          ok(roleSchema, 'Replaced'),
          ok(roleSchema, 'Created', 201),
          err(403, 'Permission escalation refused: a permission the caller does not hold'),
          err(409, 'The role is defined in the config'),
        ],
      },
      async (c, input) => {
        const name = roleName(c);
        if (identity.rbac.isConfigRole(name)) throw configOwned(name);
        const body = await input.body();
        const permissions = [...new Set(body.permissions)].sort();
        requireWithinOwn(c.get('principal'), permissions);
        const outcome = await upsertApiRole(sql, name, body.description, permissions);
        await identity.rbac.invalidateRole(name);
        await record(c, outcome === 'created' ? 'role_created' : 'role_updated', name, { permissions });
        logger.info({ action: `role_${outcome}`, role: name }, 'role saved');
        return c.json({ name, description: body.description, source: 'api', permissions }, outcome === 'created' ? 201 : 200);
      },
    ),
    defineRoute(
      {
        method: 'DELETE',
        path: `${PATH}/roles/:name`,
        summary: 'Delete a role made through the API',
        tag,
        access,
        responses: [noContent('Deleted'), err(409, 'Defined in the config, or still held by users')],
      },
      async (c) => {
        const name = roleName(c);
        if (identity.rbac.isConfigRole(name)) throw configOwned(name);
        const outcome = await deleteApiRole(sql, name);
        if (outcome === 'missing') throw notFound('role');
        if (outcome === 'in_use') throw conflict(`role ${name} is still held by users: give them another role first`);
        await identity.rbac.invalidateRole(name);
        await record(c, 'role_deleted', name);
        return c.body(null, 204);
      },
    ),
    defineRoute(
      { method: 'GET', path: `${PATH}/audit`, summary: 'The audit log, newest first', tag, access: need('audit:read'), query: auditQuery, responses: [ok(auditPageSchema)] },
      async (c, input) => {
        const q = input.query();
        const rows = await listAudit(sql, { limit: q.limit, beforeId: q.before, action: q.action, actorId: q.actor_id });
        const last = rows.at(-1);
        return c.json({ items: rows.map(auditJson), next_before: rows.length === q.limit && last ? Number(last.id) : null });
      },
    ),
  ];
}
