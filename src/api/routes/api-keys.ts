import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { countActiveApiKeys, insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../../db/api-keys.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { insufficientPermission } from '../middleware/access.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { apiKeySchema, createdApiKeySchema, listOf } from '../openapi/schemas.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { uuidParam } from './params.js';
import { auditRequest } from '../audit-request.js';

const SCOPE = /^(\*|[a-z_]+(:([a-z_]+|\*))*)$/;

const createBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    /** Permissions the key may use, each within the caller's own; absent: whatever the caller's role grants. */
    scopes: z.array(z.string().regex(SCOPE, 'must look like resource:action[:own|:any]')).min(1).max(100).optional().describe("Absent: whatever the caller's role grants"),
    expires_at: z
      .string()
      .datetime({ offset: true })
      // The format check lets an offset like +25:00 through; no such instant exists.
      .refine((v) => !Number.isNaN(Date.parse(v)), 'not a real point in time')
      .nullable()
      .optional(),
  })
  .strict();

const listQuery = z.object({ include_revoked: z.enum(['true', 'false']).optional() }).strict();

export const apiKeyJson = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  prefix: k.key_prefix,
  scopes: k.scopes,
  created_at: k.created_at,
  expires_at: k.expires_at,
  last_used_at: k.last_used_at,
  revoked_at: k.revoked_at,
});

/** POST/GET/DELETE /api/v1/api-keys: machine credentials of the caller, shown once and stored as SHA-256. */
export function apiKeyRoutes(identity: Identity): RouteDef[] {
  const { sql, logger } = identity.resources;
  const cfg = identity.config.auth.api_keys;
  const PATH = '/api/v1/api-keys';
  const tag = 'api-keys';
  return [
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Create an API key (the key is shown once)',
        tag,
        access: need('api_key:create'),
        body: createBody,
        responses: [
          ok(createdApiKeySchema, 'Created', 201),
          err(403, "A scope beyond the caller's permissions"),
          err(409, 'auth.api_keys.max_per_user active keys already'),
          err(422, 'expires_at is in the past'),
        ],
      },
      async (c, input) => {
        const p = c.get('principal');
        const body = await input.body();
        // Asked-for scopes must lie within what the caller has. Without any, a key made with an access token
        // gets `*` (whatever the role grants, now and later); one made with a key inherits that key's scopes.
        const beyond = body.scopes?.find((s) => !p.permissions.covers(s));
        if (beyond) throw insufficientPermission(beyond);
        const scopes = [...new Set(body.scopes ?? p.permissions.scopes ?? ['*'])];
        const expiresAt = body.expires_at ? new Date(body.expires_at) : null;
        if (expiresAt && expiresAt.getTime() <= Date.now()) throw unprocessable('expires_at is in the past');
        if ((await countActiveApiKeys(sql, p.userId)) >= cfg.max_per_user) {
          throw conflict(`this user already has ${cfg.max_per_user} active API keys (auth.api_keys.max_per_user): revoke one first`);
        }
        const made = identity.apiKeys.generate();
        const row = await insertApiKey(sql, { userId: p.userId, name: body.name, keyPrefix: made.displayPrefix, keyHash: made.hash, scopes, expiresAt });
        await auditRequest(c, identity, { action: 'api_key_created', targetType: 'api_key', targetId: row.id, details: { name: row.name, scopes, via_api_key: p.apiKeyId } });
        logger.info({ action: 'api_key_created', user_id: p.userId, api_key_id: row.id }, 'API key created');
        c.header('Cache-Control', 'no-store');
        return c.json({ ...apiKeyJson(row), key: made.key }, 201);
      },
    ),
    defineRoute(
      {
        method: 'GET',
        path: PATH,
        summary: 'List own API keys (never the keys themselves)',
        tag,
        access: need('api_key:read:own'),
        query: listQuery,
        responses: [ok(listOf(apiKeySchema))],
      },
      async (c, input) => {
        const q = input.query();
        const rows = await listApiKeys(sql, c.get('principal').userId, q.include_revoked === 'true');
        return c.json({ items: rows.map(apiKeyJson) });
      },
    ),
    defineRoute(
      { method: 'DELETE', path: `${PATH}/:id`, summary: 'Revoke an API key', tag, access: need('api_key:delete:own'), responses: [noContent('Revoked')] },
      async (c) => {
        const p = c.get('principal');
        const row = await revokeApiKey(sql, p.userId, uuidParam(c, 'API key'));
        if (!row) throw notFound('API key');
        await identity.apiKeys.revoked(row.id);
        await auditRequest(c, identity, { action: 'api_key_revoked', targetType: 'api_key', targetId: row.id, details: { name: row.name } });
        logger.info({ action: 'api_key_revoked', user_id: p.userId, api_key_id: row.id }, 'API key revoked');
        return c.body(null, 204);
      },
    ),
  ];
}
