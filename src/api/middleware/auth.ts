import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { bearerToken } from '../../auth/bearer.js';
import type { Identity } from '../../auth/identity.js';
import type { ApiKeyCheck } from '../../auth/api-keys.js';
import type { ApiKeyPrincipalRow } from '../../db/api-keys.js';
import { TokenError, type AccessClaims } from '../../auth/jwt.js';
import { permissionSetFor, type PermissionSet } from '../../auth/permissions.js';
import type { RateDecision } from '../../auth/rate-limiter.js';
import type { AccessState } from '../../auth/session-state.js';
import { ApiError, invalidToken, unauthorized } from '../errors.js';
import { countPrincipal, principalBucket, settlePrincipalLimit, type ShownLimit } from './rate-limit.js';
import { requestHeader } from '../../net/node-http.js';
import { readSessionCookie } from '../browser-session/cookies.js';
import { changesState, checkCsrf } from '../browser-session/csrf.js';

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
    /** The client address, once worked out (Identity.clientIp). */
    clientIp: string | null;
    /** The strictest rate-limit decision so far, for the RateLimit-* headers. */
    rateLimit: ShownLimit | undefined;
  };
};

const invalidApiKey = (message: string) => new ApiError(401, 'Invalid API key', message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });

/** The request's bearer token; 401 when there is no Authorization header or it has another form. */
function requestBearerToken(c: Context): string {
  const header = requestHeader(c, 'authorization');
  if (!header) {
    throw unauthorized('missing bearer token: send Authorization: Bearer <access_token> (POST /api/v1/auth/login), an API key (X-API-Key), or sign in at / for a browser session');
  }
  const value = bearerToken(header);
  if (!value) throw invalidToken('authorization header must be "Bearer <token>"');
  return value;
}

/**
 * How a cookie-authenticated request that changes state is checked: by the X-CSRF-Token header here, or
 * by the route itself (bull-board, whose own page cannot send the header: it checks the origin).
 */
export type CookieCsrf = 'token' | 'route';

/**
 * Who is calling: a checked access token whose user and session are still good, or a live API key. The
 * request is also counted against the principal's rate limit (429 once over it).
 *
 * Answered without a promise when everything is at hand in this process (a token verified before, a key
 * seen before, the user's state, the role and a rate-limit lease: src/auth/local-cache.ts and
 * rate-limiter.ts), which is nearly every request of a busy client; otherwise the same checks wait for
 * Redis or Postgres. The difference is measured by bench/auth.ts.
 */
export function authenticate(c: Context, identity: Identity, cookieCsrf: CookieCsrf = 'token'): Principal | Promise<Principal> {
  // The credential: `X-API-Key`, or `Authorization: Bearer` holding an API key or an access token, or
  // (with neither header) the browser session's cookie.
  const apiKey = requestHeader(c, 'x-api-key');
  if (apiKey) return byApiKey(c, identity, apiKey.trim());
  if (!requestHeader(c, 'authorization')) {
    const session = readSessionCookie(c, identity.config);
    if (session) {
      if (cookieCsrf === 'token' && changesState(c.req.method)) checkCsrf(c, identity.config);
      return byAccessToken(c, identity, session);
    }
  }
  const token = requestBearerToken(c);
  return identity.apiKeys.isApiKey(token) ? byApiKey(c, identity, token) : byAccessToken(c, identity, token);
}

type Limit = RateDecision | null | Promise<RateDecision | null>;

/** Refuses the request when it is over the principal's limit, once the limiter has answered. */
function afterLimit(c: Context, identity: Identity, limit: Limit, principal: Principal): Principal | Promise<Principal> {
  if (!(limit instanceof Promise)) {
    settlePrincipalLimit(c, identity, limit);
    return principal;
  }
  return limit.then((d) => {
    settlePrincipalLimit(c, identity, d);
    return principal;
  });
}

/**
 * The principal (and rate-limit bucket) last built for a verified token or a cached API key, reused while
 * the user state and role permissions it was built from are the same objects: the caches replace those
 * objects when anything in them changes, so a request of a busy client allocates nothing for them.
 */
interface Built {
  bucket: string;
  from: unknown;
  role: readonly string[] | undefined;
  principal: Principal;
}
const built = new WeakMap<object, Built>();

/**
 * The principal for `source`, rebuilt (by `make`) only when the state or role it came from was replaced.
 * `source`, `from` and `role` are passed on their own so that the common case (nothing replaced) allocates
 * nothing: `make` and `bucket` are module-level functions, not closures made per request.
 */
function builtFor<S extends object, F>(source: S, from: F, role: readonly string[] | undefined, bucket: (source: S) => string, make: (source: S, from: F, role: readonly string[] | undefined) => Principal): Built {
  let b = built.get(source);
  if (!b) {
    b = { bucket: bucket(source), from, role, principal: Object.freeze(make(source, from, role)) };
    built.set(source, b);
  } else if (b.from !== from || b.role !== role) {
    b.from = from;
    b.role = role;
    b.principal = Object.freeze(make(source, from, role));
  }
  return b;
}

function byApiKey(c: Context, identity: Identity, key: string): Principal | Promise<Principal> {
  const found = identity.apiKeys.checkKnown(key);
  const role = found?.ok ? identity.rbac.knownPermissions(found.row.role) : undefined;
  if (!found || (found.ok && !role)) return byApiKeySlowly(c, identity, key);
  return keyPrincipal(c, identity, found, role);
}

async function byApiKeySlowly(c: Context, identity: Identity, key: string): Promise<Principal> {
  const found = await identity.apiKeys.check(key);
  if (!found.ok) return keyPrincipal(c, identity, found, undefined);
  // The per-key count runs alongside the role lookup: one Redis round trip less on a cache miss.
  const limit = countPrincipal(c, identity, keyBucket(found.row), found.row.user_id);
  const role = await identity.rbac.permissionsFor(found.row.role);
  return keyPrincipal(c, identity, found, role, limit);
}

const keyBucket = (k: ApiKeyPrincipalRow) => principalBucket({ apiKeyId: k.id, userId: k.user_id });
const makeKeyPrincipal = (k: ApiKeyPrincipalRow, _from: ApiKeyPrincipalRow, role: readonly string[] | undefined): Principal => ({
  userId: k.user_id,
  role: k.role,
  email: k.email,
  kind: 'api_key',
  sessionId: null,
  apiKeyId: k.id,
  permissions: permissionSetFor(role ?? [], k.scopes),
});

/** `limit`: the count already started by a slow path; otherwise the request is counted here. */
function keyPrincipal(c: Context, identity: Identity, found: ApiKeyCheck, role: readonly string[] | undefined, limit?: Limit): Principal | Promise<Principal> {
  if (!found.ok) throw invalidApiKey(found.reason);
  const k = found.row;
  const b = builtFor(k, k, role, keyBucket, makeKeyPrincipal);
  return afterLimit(c, identity, limit === undefined ? countPrincipal(c, identity, b.bucket, k.user_id) : limit, b.principal);
}

function byAccessToken(c: Context, identity: Identity, token: string): Principal | Promise<Principal> {
  const claims = identity.resources.tokens.verifiedBefore(token);
  const state = claims && identity.state.known(claims.sub, claims.sid);
  const role = state?.user ? identity.rbac.knownPermissions(state.user.role) : undefined;
  if (!claims || !state || (state.user && !role)) return byAccessTokenSlowly(c, identity, token);
  return tokenPrincipal(c, identity, claims, state, role);
}

async function byAccessTokenSlowly(c: Context, identity: Identity, token: string): Promise<Principal> {
  let claims: AccessClaims;
  try {
    claims = await identity.resources.tokens.verify(token);
  } catch (err) {
    if (err instanceof TokenError) throw invalidToken(err.message);
    throw err;
  }
  // The per-user count runs alongside the state and role lookups: one Redis round trip less on a cache miss.
  const limit = countPrincipal(c, identity, tokenBucket(claims), claims.sub);
  const state = await identity.state.lookup(claims.sub, claims.sid);
  const role = state.user ? await identity.rbac.permissionsFor(state.user.role) : undefined;
  return tokenPrincipal(c, identity, claims, state, role, limit);
}

type TokenUser = NonNullable<AccessState['user']>;
const tokenBucket = (claims: AccessClaims) => principalBucket({ apiKeyId: null, userId: claims.sub });
const makeTokenPrincipal = (claims: AccessClaims, user: TokenUser, role: readonly string[] | undefined): Principal => ({
  userId: claims.sub,
  role: user.role,
  email: user.email,
  kind: 'user',
  sessionId: claims.sid ?? null,
  apiKeyId: null,
  permissions: permissionSetFor(role ?? []),
});

/** `limit`: the count already started by the slow path; otherwise the request is counted here. */
function tokenPrincipal(c: Context, identity: Identity, claims: AccessClaims, state: AccessState, role: readonly string[] | undefined, limit?: Limit): Principal | Promise<Principal> {
  const user = state.user;
  if (!user) throw invalidToken('the user of this token no longer exists');
  if (user.disabled) throw invalidToken('the account is disabled');
  if (state.sessionRevoked) throw invalidToken('token has been revoked: log in again');
  const b = builtFor(claims, user, role, tokenBucket, makeTokenPrincipal);
  return afterLimit(c, identity, limit === undefined ? countPrincipal(c, identity, b.bucket, claims.sub) : limit, b.principal);
}

/**
 * Authentication (with the per-user rate limit) for routes that judge permissions themselves
 * (bull-board). API routes get it through `accessControl`, which also applies the permission table.
 */
export function requireAuth(identity: Identity, cookieCsrf: CookieCsrf = 'token') {
  return createMiddleware<AuthEnv>(async (c, next) => {
    c.set('principal', await authenticate(c, identity, cookieCsrf));
    await next();
  });
}
