import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../../config/index.js';

/**
 * The browser session: the access token in an HttpOnly cookie that lives as long as the token, and a CSRF
 * token the console sends back in a header (double submit). Both are SameSite=Strict and scoped to this
 * host: with Secure on, the `__Host-` prefix makes the browser refuse them from a sibling subdomain or
 * with a Domain or Path of their own.
 */
export const CSRF_HEADER = 'x-csrf-token';

type CookieConfig = Pick<Config, 'security' | 'auth'>;

const prefix = (cfg: CookieConfig) => (cfg.security.cookies.secure ? '__Host-' : '');
export const sessionCookieName = (cfg: CookieConfig) => `${prefix(cfg)}aicli_session`;
export const csrfCookieName = (cfg: CookieConfig) => `${prefix(cfg)}aicli_csrf`;

const base = (cfg: CookieConfig) => ({ path: '/', httpOnly: true, secure: cfg.security.cookies.secure, sameSite: 'Strict' as const });

/** Sets the session cookie for `accessToken` (max-age: the token's own life) and keeps or makes the CSRF token. */
export function setSessionCookies(c: Context, cfg: CookieConfig, accessToken: string, expiresInSeconds: number): string {
  setCookie(c, sessionCookieName(cfg), accessToken, { ...base(cfg), maxAge: expiresInSeconds });
  // The CSRF token outlives the access token, as the refresh token does: the refresh needs it.
  const csrf = readCsrfCookie(c, cfg) ?? randomBytes(24).toString('base64url');
  setCookie(c, csrfCookieName(cfg), csrf, { ...base(cfg), maxAge: Math.floor(cfg.auth.refresh_token.ttl / 1000) });
  return csrf;
}

export function clearSessionCookies(c: Context, cfg: CookieConfig): void {
  deleteCookie(c, sessionCookieName(cfg), base(cfg));
  deleteCookie(c, csrfCookieName(cfg), base(cfg));
}

export const readSessionCookie = (c: Context, cfg: CookieConfig): string | undefined => getCookie(c, sessionCookieName(cfg)) || undefined;
export const readCsrfCookie = (c: Context, cfg: CookieConfig): string | undefined => getCookie(c, csrfCookieName(cfg)) || undefined;
