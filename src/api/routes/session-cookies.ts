import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Identity } from '../../auth/identity.js';

/** The refresh token as an HttpOnly, SameSite=Strict cookie (Secure unless security.cookies.secure is off), sent only to the auth endpoints. */
export function setRefreshCookie(c: Context, identity: Identity, token: string): void {
  const cfg = identity.config;
  setCookie(c, cfg.auth.refresh_token.cookie_name, token, {
    path: cfg.auth.refresh_token.cookie_path,
    httpOnly: true,
    secure: cfg.security.cookies.secure,
    sameSite: 'Strict',
    maxAge: identity.sessions.refreshTtlSeconds,
  });
}

export function clearRefreshCookie(c: Context, identity: Identity): void {
  const cfg = identity.config;
  deleteCookie(c, cfg.auth.refresh_token.cookie_name, {
    path: cfg.auth.refresh_token.cookie_path,
    httpOnly: true,
    secure: cfg.security.cookies.secure,
    sameSite: 'Strict',
  });
}

export const readRefreshCookie = (c: Context, identity: Identity): string | undefined => getCookie(c, identity.config.auth.refresh_token.cookie_name);

export const OAUTH_STATE_COOKIE = 'aicli_oauth_state';

/**
 * Binds an OAuth2 state to the browser that started the login. SameSite=Lax, not Strict: the provider's
 * redirect back is a cross-site top-level navigation, and a Strict cookie would not come with it.
 */
export function setOAuthStateCookie(c: Context, identity: Identity, state: string): void {
  setCookie(c, OAUTH_STATE_COOKIE, state, {
    path: '/auth/callback',
    httpOnly: true,
    secure: identity.config.security.cookies.secure,
    sameSite: 'Lax',
    maxAge: Math.ceil(identity.config.oauth2.state_ttl / 1000),
  });
}

export function takeOAuthStateCookie(c: Context, identity: Identity): string | undefined {
  const state = getCookie(c, OAUTH_STATE_COOKIE);
  if (state !== undefined) deleteCookie(c, OAUTH_STATE_COOKIE, { path: '/auth/callback', httpOnly: true, secure: identity.config.security.cookies.secure, sameSite: 'Lax' });
  return state;
}
