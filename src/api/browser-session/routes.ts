import type { Context } from 'hono';
import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { PROVIDERS } from '../../auth/oauth/providers.js';
import { RefreshError, type TokenPair } from '../../auth/sessions.js';
import { invalidToken, unauthorized } from '../errors.js';
import { err, noContent, ok } from '../openapi/response-docs.js';
import { defineRoute, type RouteDef } from '../route.js';
import { clientMeta, loginBody, passwordLogin } from '../routes/auth.js';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from '../routes/session-cookies.js';
import { clearSessionCookies, readCsrfCookie, readSessionCookie, setSessionCookies } from './cookies.js';
import { checkCsrf } from './csrf.js';

const PATH = '/api/v1/auth/session';

const sessionSchema = z
  .object({
    csrf_token: z.string().describe('Send it as X-CSRF-Token with every state-changing request that uses the session cookie'),
    expires_in: z.number().int().describe('Seconds until the session cookie expires; refresh before then'),
  })
  .strict();
const csrfSchema = z
  .object({
    csrf_token: z.string().nullable().describe('The CSRF token of this browser, or null without one'),
    oauth_providers: z.array(z.enum(PROVIDERS)).describe('The OAuth2 providers configured for sign-in (GET /api/v1/auth/oauth/{provider})'),
  })
  .strict();

const csrfHeader = { name: 'X-CSRF-Token', description: 'The csrf_token of this browser session', required: true };

/** Sets the three cookies of a browser session (access, CSRF, refresh) and answers what the page needs. */
function answerSession(c: Context, identity: Identity, pair: TokenPair): Response {
  setRefreshCookie(c, identity, pair.refresh_token);
  const csrf = setSessionCookies(c, identity.config, pair.access_token, pair.expires_in);
  c.header('Cache-Control', 'no-store');
  return c.json({ csrf_token: csrf, expires_in: pair.expires_in });
}

/**
 * Browser sessions for the console, bull-board and /docs: the tokens of a login travel only in HttpOnly,
 * SameSite=Strict cookies, never to page scripts; the refresh token rotates as for API clients.
 */
export function browserSessionRoutes(identity: Identity): RouteDef[] {
  const tag = 'auth';
  const { sessions, audit } = identity;
  return [
    defineRoute(
      {
        method: 'POST',
        path: PATH,
        summary: 'Sign in a browser: sets the session, CSRF and refresh cookies (no token in the body)',
        tag,
        access: 'public',
        body: loginBody,
        responses: [ok(sessionSchema, 'Signed in'), err(400, 'Not a JSON body'), err(401, 'Invalid credentials'), err(429, 'Too many login attempts')],
      },
      async (c, input) => answerSession(c, identity, await passwordLogin(c, identity, () => input.body())),
    ),
    defineRoute(
      {
        method: 'GET',
        path: PATH,
        summary: "This browser's CSRF token (read by the console after a reload) and the OAuth2 sign-in choices",
        tag,
        access: 'public',
        responses: [ok(csrfSchema)],
      },
      (c) => {
        c.header('Cache-Control', 'no-store');
        const oauth = PROVIDERS.filter((p) => identity.config.oauth2[p].client_id !== '');
        return c.json({ csrf_token: readCsrfCookie(c, identity.config) ?? null, oauth_providers: oauth });
      },
    ),
    defineRoute(
      {
        method: 'POST',
        path: `${PATH}/refresh`,
        summary: 'Renew a browser session from its refresh cookie (rotated)',
        tag,
        access: 'public',
        headers: [csrfHeader],
        responses: [ok(sessionSchema, 'Renewed'), err(401, 'No, expired, revoked or reused refresh cookie'), err(403, 'CSRF check failed')],
      },
      async (c) => {
        checkCsrf(c, identity.config);
        const token = readRefreshCookie(c, identity);
        if (!token) throw unauthorized('no refresh cookie: sign in again');
        try {
          return answerSession(c, identity, await sessions.refresh(token, clientMeta(c, identity)));
        } catch (e) {
          if (!(e instanceof RefreshError)) throw e;
          clearRefreshCookie(c, identity);
          clearSessionCookies(c, identity.config);
          throw invalidToken(e.message);
        }
      },
    ),
    defineRoute(
      {
        method: 'DELETE',
        path: PATH,
        summary: 'Sign a browser out: ends its login and clears its cookies',
        tag,
        access: 'public',
        headers: [csrfHeader],
        responses: [noContent('Signed out'), err(403, 'CSRF check failed')],
      },
      async (c) => {
        checkCsrf(c, identity.config);
        const meta = clientMeta(c, identity);
        const refresh = readRefreshCookie(c, identity);
        let revoked = refresh ? await sessions.logoutByRefreshToken(refresh) : undefined;
        // Without the refresh cookie, the session cookie's token still names the login to end.
        const access = readSessionCookie(c, identity.config);
        if (!revoked && access) {
          const claims = await identity.resources.tokens.verify(access).catch(() => null);
          if (claims?.sid) {
            await sessions.logoutSession(claims.sid);
            revoked = { familyId: claims.sid, userId: claims.sub };
          }
        }
        if (revoked) {
          await audit.record({ actorId: revoked.userId, actorKind: 'user', action: 'logout', targetType: 'session', targetId: revoked.familyId, ip: meta.ip, requestId: meta.requestId });
        }
        clearRefreshCookie(c, identity);
        clearSessionCookies(c, identity.config);
        return c.body(null, 204);
      },
    ),
  ];
}
