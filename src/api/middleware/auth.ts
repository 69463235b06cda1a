import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Identity } from '../../auth/identity.js';
import { TokenError } from '../../auth/jwt.js';
import { PermissionSet } from '../../auth/permissions.js';
import type { RateDecision } from '../../auth/rate-limiter.js';
import { ApiError, invalidToken, unauthorized } from '../errors.js';
import { countPrincipal, principalBucket, settlePrincipalLimit } from './rate-limit.js';

export interface Principal {
  userId: string;
  /** The user's current role (read from Postgres or the RBAC cache, not trusted from the token). */
  role: string;
  email: string;
  /** How the request authenticated. */
  kind: 'user' | 'api_key';
  /** The login session (refresh-token family) of an access token. */
  sessionId: string | null;
  apiKeyId: string | null;
  /** The role's permissions, narrowed by the API key's scopes. */
  permissions: PermissionSet;
}

export type AuthEnv = {
  Variables: {
    principal: Principal;
    requestId: string;
    /** The strictest rate-limit decision so far, for the RateLimit-* headers. */
    rateLimit: RateDecision | undefined;
  };
};

const invalidApiKey = (message: string) => new ApiError(401, 'Invalid API key', message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });

/** The credential a request carries: `X-API-Key`, or `Authorization: Bearer` holding an API key or an access token. */
function credential(c: Context, identity: Identity): { kind: 'api_key' | 'jwt'; value: string } {
  const apiKey = c.req.header('x-api-key');
  if (apiKey) return { kind: 'api_key', value: apiKey.trim() };
  const header = c.req.header('authorization');
  if (!header) {
    throw unauthorized('missing bearer token: send Authorization: Bearer <access_token> (POST /api/v1/auth/login) or an API key (X-API-Key)');
  }
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw invalidToken('authorization header must be "Bearer <token>"');
  const value = match[1] as string;
  return { kind: identity.apiKeys.isApiKey(value) ? 'api_key' : 'jwt', value };
}

/**
 * Who is calling: a checked access token whose user and session are still good, or a live API key. The
 * request is also counted against the principal's rate limit (429 once over it).
 */
export async function authenticate(c: Context, identity: Identity): Promise<Principal> {
  const cred = credential(c, identity);
  if (cred.kind === 'api_key') {
    const found = await identity.apiKeys.check(cred.value);
    if (!found.ok) throw invalidApiKey(found.reason);
    const k = found.row;
    const [role, limit] = await Promise.all([identity.rbac.permissionsFor(k.role), countPrincipal(c, identity, principalBucket({ apiKeyId: k.id, userId: k.user_id }), k.user_id)]);
    settlePrincipalLimit(c, identity, limit);
    return {
      userId: k.user_id,
      role: k.role,
      email: k.email,
      kind: 'api_key',
      sessionId: null,
      apiKeyId: k.id,
      permissions: new PermissionSet(role, k.scopes),
    };
  }
  let claims;
  try {
    claims = await identity.resources.tokens.verify(cred.value);
  } catch (err) {
    if (err instanceof TokenError) throw invalidToken(err.message);
    throw err;
  }
  // The signature proved who this is, so the rate-limit count runs alongside the user lookup (one round trip).
  const [state, limit] = await Promise.all([identity.state.lookup(claims.sub, claims.sid), countPrincipal(c, identity, `user:${claims.sub}`, claims.sub)]);
  if (!state.user) throw invalidToken('the user of this token no longer exists');
  if (state.user.disabled) throw invalidToken('the account is disabled');
  if (state.sessionRevoked) throw invalidToken('token has been revoked: log in again');
  settlePrincipalLimit(c, identity, limit);
  return {
    userId: claims.sub,
    role: state.user.role,
    email: state.user.email,
    kind: 'user',
    sessionId: claims.sid ?? null,
    apiKeyId: null,
    permissions: new PermissionSet(await identity.rbac.permissionsFor(state.user.role)),
  };
}

/**
 * Authentication (with the per-user rate limit) for routes that judge permissions themselves
 * (bull-board). API routes get it through `accessControl`, which also applies the permission table.
 */
export function requireAuth(identity: Identity) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    c.set('principal', await authenticate(c, identity));
    await next();
  });
}
