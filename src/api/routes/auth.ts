import type { Context } from 'hono';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { OAuthError } from '../../auth/oauth/errors.js';
import { DUMMY_HASH, verifyPassword } from '../../auth/password.js';
import { looksLikeJwt } from '../../auth/secrets.js';
import { RefreshError, type ClientMeta, type TokenPair } from '../../auth/sessions.js';
import { findUserByEmail } from '../../db/users.js';
import { ApiError, badRequest, invalidToken, unauthorized } from '../errors.js';
import { err, noContent, ok, redirect } from '../openapi/response-docs.js';
import { meSchema, tokenPairSchema } from '../openapi/schemas.js';
import { defineRoute, type RouteDef } from '../route.js';
import { limitLogin } from '../middleware/rate-limit.js';
import { parseWith } from '../validate.js';
import { clearRefreshCookie, readRefreshCookie, setOAuthStateCookie, setRefreshCookie } from './session-cookies.js';
import { bearerToken } from '../../auth/bearer.js';
import { requestHeader } from '../../net/node-http.js';

export const loginBody = z.object({ email: z.string().email().max(320), password: z.string().min(1).max(1024) }).strict();
const refreshBody = z
  .object({ refresh_token: z.string().min(1).max(512).optional().describe('Or the refresh cookie, or Authorization: Bearer <refresh_token>') })
  .strict();

export const clientMeta = (c: Context, identity: Identity): ClientMeta => ({
  ip: identity.clientIp(c),
  userAgent: c.req.header('user-agent') ?? null,
  requestId: (c.get('requestId') as string | undefined) ?? null,
});

/** An OAuth2 failure as docs/troubleshooting.ko.md shows it: `{"error": "oauth2: invalid_client", "message": "Invalid client credentials"}`. */
export const oauthApiError = (err: OAuthError) => new ApiError(err.status, `oauth2: ${err.code}`, err.message);

/**
 * The refresh token from the JSON body, `Authorization: Bearer` (the form docs/troubleshooting.ko.md uses) or the cookie, in that
 * order. An access token sent by mistake gets a message that says which token is wanted.
 */
async function presentedRefreshToken(c: Context, identity: Identity): Promise<string | undefined> {
  if ((c.req.header('content-type') ?? '').includes('application/json')) {
    // The body is optional here (cookie and header clients send none), so an empty one is not an error.
    const text = await c.req.text();
    if (text.trim() !== '') {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw badRequest('request body is not valid JSON');
      }
      const body = parseWith(refreshBody, value, 'body');
      if (body.refresh_token) return body.refresh_token;
    }
  }
  const bearer = bearerToken(requestHeader(c, 'authorization'));
  if (bearer) {
    if (looksLikeJwt(bearer)) {
      throw invalidToken('this is an access token: send the refresh token (body refresh_token, the refresh_token cookie, or Authorization: Bearer <refresh_token>)');
    }
    return bearer;
  }
  return readRefreshCookie(c, identity);
}

/**
 * Checks an email and password (rate-limited per address and per account, audited) and starts a session:
 * the token pair of POST /api/v1/auth/login and the browser session of POST /api/v1/auth/session.
 */
export async function passwordLogin(c: Context, identity: Identity, readBody: () => Promise<z.infer<typeof loginBody>>): Promise<TokenPair> {
  const { sql, logger } = identity.resources;
  await limitLogin(c, identity);
  const body = await readBody();
  const meta = clientMeta(c, identity);
  // Per account as well as per address: many IPs guessing one account's password are stopped too.
  const lockedFor = await identity.loginThrottle.attempt(body.email);
  if (lockedFor !== null) {
    throw new ApiError(429, 'Rate limit exceeded', 'too many failed logins for this account', { retry_after: lockedFor }, { 'Retry-After': String(lockedFor) });
  }
  const user = await findUserByEmail(sql, body.email);
  // Always run scrypt, so a missing user costs the same time as a wrong password.
  const passwordOk = await verifyPassword(body.password, user?.password_hash ?? DUMMY_HASH);
  if (!user || !passwordOk || user.disabled) {
    const reason = !user ? 'unknown_email' : user.disabled ? 'disabled' : 'wrong_password';
    logger.info({ action: 'login_failed', reason }, 'login refused');
    await identity.audit.record({ actorId: user?.id ?? null, actorKind: 'anonymous', action: 'login_failed', ip: meta.ip, requestId: meta.requestId, details: { email: body.email, reason } });
    throw new ApiError(401, 'Invalid credentials', 'email or password is incorrect');
  }
  await identity.loginThrottle.succeeded(body.email);
  const pair = await identity.sessions.start(user, meta);
  await identity.audit.record({ actorId: user.id, actorKind: 'user', action: 'login', ip: meta.ip, requestId: meta.requestId, details: { method: 'password' } });
  logger.info({ action: 'login', user_id: user.id }, 'user logged in');
  return pair;
}

export function authRoutes(identity: Identity): RouteDef[] {
  const tag = 'auth';
  const PATH = '/api/v1/auth';
  return [
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/login`,
        summary: 'Log in with email and password',
        tag,
        access: 'public',
        body: loginBody,
        responses: [ok(tokenPairSchema, 'Token pair; the refresh token is also set as a cookie'), err(401, 'Invalid credentials'), err(429, 'Too many login attempts')],
      },
      async (c, input) => {
        const pair = await passwordLogin(c, identity, () => input.body());
        setRefreshCookie(c, identity, pair.refresh_token);
        return c.json(pair);
      },
    ),
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/refresh`,
        summary: 'Rotate a refresh token for a new pair (reuse revokes the session)',
        tag,
        access: 'public',
        body: refreshBody,
        bodyOptional: true,
        responses: [ok(tokenPairSchema), err(401, 'Missing, expired, revoked or reused refresh token')],
      },
      async (c) => {
        const token = await presentedRefreshToken(c, identity);
        if (!token) {
          throw unauthorized('missing refresh token: send {"refresh_token": "..."}, the refresh_token cookie, or Authorization: Bearer <refresh_token>');
        }
        try {
          const pair = await identity.sessions.refresh(token, clientMeta(c, identity));
          setRefreshCookie(c, identity, pair.refresh_token);
          return c.json(pair);
        } catch (err) {
          if (err instanceof RefreshError) {
            clearRefreshCookie(c, identity);
            throw invalidToken(err.message);
          }
          throw err;
        }
      },
    ),
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/logout`,
        summary: 'End the session of an access or refresh token',
        tag,
        access: 'public',
        body: refreshBody,
        bodyOptional: true,
        responses: [noContent('Logged out'), err(401, 'No token presented')],
      },
      async (c) => {
        const meta = clientMeta(c, identity);
        const bearer = bearerToken(requestHeader(c, 'authorization'));
        let revoked: { familyId: string; userId: string } | undefined;
        if (bearer && looksLikeJwt(bearer)) {
          // Logging out with the access token ends its session, even when the refresh token is gone.
          const claims = await identity.resources.tokens.verify(bearer).catch(() => null);
          if (claims?.sid) {
            await identity.sessions.logoutSession(claims.sid);
            revoked = { familyId: claims.sid, userId: claims.sub };
          }
        } else {
          const token = await presentedRefreshToken(c, identity);
          if (!token) throw unauthorized('missing refresh token: send {"refresh_token": "..."}, the refresh_token cookie, or Authorization: Bearer <token>');
          revoked = await identity.sessions.logoutByRefreshToken(token);
        }
        if (revoked) {
          await identity.audit.record({ actorId: revoked.userId, actorKind: 'user', action: 'logout', targetType: 'session', targetId: revoked.familyId, ip: meta.ip, requestId: meta.requestId });
        }
        clearRefreshCookie(c, identity);
        return c.body(null, 204);
      },
    ),
    defineRoute(
      {
        method: 'GET',
        path: `${PATH}/me`,
        summary: 'The caller: id, email, role, how it authenticated, effective permissions',
        tag,
        access: 'authenticated',
        responses: [ok(meSchema)],
      },
      (c) => {
        const p = c.get('principal');
        return c.json({ id: p.userId, email: p.email, role: p.role, auth: p.kind, api_key_id: p.apiKeyId, permissions: p.permissions.list() });
      },
    ),
    defineRoute(
      {
        method: 'GET',
        path: `${PATH}/oauth/:provider`,
        summary: 'Start an OAuth2 login (github, google): redirect to the provider with state and PKCE',
        tag,
        access: 'public',
        responses: [redirect("Redirect to the provider's consent page"), err(404, 'Provider not configured'), err(503, 'The login state store (Redis) does not answer')],
      },
      async (c) => {
        try {
          const { state, url } = await identity.oauth.begin(c.req.param('provider') ?? '', new URL(c.req.url).origin);
          setOAuthStateCookie(c, identity, state);
          c.header('Cache-Control', 'no-store');
          return c.redirect(url, 302);
        } catch (err) {
          if (err instanceof OAuthError) throw oauthApiError(err);
          throw err;
        }
      },
    ),
  ];
}
