import { Hono } from 'hono';
import type { Identity } from '../../auth/identity.js';
import { resolveOAuthAccount } from '../../auth/oauth/accounts.js';
import { OAuthError } from '../../auth/oauth/errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { clientMeta, oauthApiError } from './auth.js';
import { setRefreshCookie, takeOAuthStateCookie } from './session-cookies.js';

/**
 * GET /auth/callback/:provider: where the provider sends the browser back. The state is checked and
 * spent, the code exchanged (with the PKCE verifier), the user found, linked or created, and a session
 * started: the token pair as JSON, or a redirect to oauth2.success_redirect_url with the refresh cookie.
 */
export function oauthCallbackRoutes(identity: Identity) {
  const { sql, logger } = identity.resources;
  return new Hono<AuthEnv>().get('/:provider', async (c) => {
    const provider = c.req.param('provider');
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
      return next ? c.redirect(next, 302) : c.json(pair);
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
  });
}
