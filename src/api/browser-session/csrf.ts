import type { Context } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config/index.js';
import { ApiError } from '../errors.js';
import { CSRF_HEADER, readCsrfCookie } from './cookies.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const refused = (message: string) => new ApiError(403, 'CSRF check failed', message);

export const changesState = (method: string): boolean => !SAFE_METHODS.has(method);

/**
 * A request that rides on the session cookie and changes state must show it was made by a page of this
 * origin: its X-CSRF-Token header equals the CSRF cookie (a foreign page can neither read the cookie nor
 * set the header without a CORS preflight this API refuses), and the browser does not call it cross-site.
 */
export function checkCsrf(c: Context, cfg: Pick<Config, 'security' | 'auth'>): void {
  const site = c.req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') {
    throw refused(`a ${site} request cannot use the session cookie to change state`);
  }
  const expected = readCsrfCookie(c, cfg);
  const sent = c.req.header(CSRF_HEADER);
  if (!expected || !sent) {
    throw refused('send the X-CSRF-Token header with the csrf_token of GET /api/v1/auth/session (or use a bearer token)');
  }
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw refused('the X-CSRF-Token header does not match this browser session');
}
