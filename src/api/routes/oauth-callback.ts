import { z } from 'zod';
import type { Identity } from '../../auth/identity.js';
import { resolveOAuthAccount } from '../../auth/oauth/accounts.js';
import { OAuthError } from '../../auth/oauth/errors.js';
import { err, ok, redirect } from '../openapi/response-docs.js';
import { tokenPairSchema } from '../openapi/schemas.js';
import { defineRoute, type RouteDef, type RouteSpec } from '../route.js';
import { clientMeta, oauthApiError } from './auth.js';
import { setRefreshCookie, takeOAuthStateCookie } from './session-cookies.js';
import { setSessionCookies } from '../browser-session/cookies.js';

// Documented, and open: providers add parameters of their own (scope, authuser, ...). The handler hands the
// raw values to the OAuth2 flow, which judges them, so a bad one is an audited oauth2 error like any other.
const callbackQuery = z
  .object({ code: z.string().optional(), state: z.string().optional(), error: z.string().optional(), error_description: z.string().optional() })
  .passthrough();

/**
 * GET /auth/callback/:provider: where the provider sends the browser back. The state is checked and
 * spent, the code exchanged (with the PKCE verifier), the user found, linked or created, and a session
 * started: the token pair as JSON, or a redirect to oauth2.success_redirect_url with the refresh cookie.
 */
export function oauthCallbackRoutes(identity: Identity): RouteDef[] {
  const { sql, logger } = identity.resources;
  const route: RouteSpec<z.infer<typeof callbackQuery>> = {
    method: 'GET',
    path: '/auth/callback/:provider',
    summary: 'OAuth2 redirect target: checks state, exchanges the code, starts a session',
    tag: 'auth',
    access: 'public',
    query: callbackQuery,
    responses: [
      ok(tokenPairSchema),
      redirect('Redirect to oauth2.success_redirect_url with the refresh cookie'),
      err(400, 'oauth2 error (state, code or provider)'),
      err(401, 'The provider refused our client credentials'),
      err(403, 'The account is disabled or has no verified email'),
      err(404, 'Unknown or unconfigured provider'),
      err(502, 'The provider did not answer or refused'),
      err(503, 'The login state store (Redis) does not answer'),
    ],
  };
  return [defineRoute(route, async (c) => {
    const provider = c.req.param('provider') ?? '';
    const meta = clientMeta(c, identity);
    try {
      const { name } = identity.oauth.provider(provider);
      const q = c.req.query();
      const identityAtProvider = await identity.oauth.complete(name, {
        code: q.code,
        state: q.state,
        cookieState: takeOAuthStateCookie(c, identity),
        error: q.error,
        errorDescription: q.error_description,
      });
      const account = await resolveOAuthAccount(sql, name, identityAtProvider, identity.config.oauth2.default_role);
      if (account.user.disabled) throw new OAuthError(403, 'account_disabled', 'the account is disabled');
      const pair = await identity.sessions.start(account.user, meta);
      await identity.audit.record({
        actorId: account.user.id,
        actorKind: 'user',
        action: 'login',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { method: 'oauth2', provider, account: account.how },
      });
      logger.info({ action: 'oauth2_login', provider, user_id: account.user.id, account: account.how }, 'oauth2 login succeeded');
      setRefreshCookie(c, identity, pair.refresh_token);
      c.header('Cache-Control', 'no-store');
      const next = identity.config.oauth2.success_redirect_url;
      if (!next) return c.json(pair);
      // Back to a page (the console at /): the browser is signed in as by POST /api/v1/auth/session.
      setSessionCookies(c, identity.config, pair.access_token, pair.expires_in);
      return c.redirect(next, 302);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      logger.info({ action: 'oauth2_login_failed', provider: provider.slice(0, 40), oauth_error: err.code }, `oauth2 login failed: ${err.code}`);
      await identity.audit.record({
        actorId: null,
        actorKind: 'anonymous',
        action: 'login_failed',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { method: 'oauth2', provider: provider.slice(0, 40), reason: err.code },
      });
      throw oauthApiError(err);
    }
  })];
}
